"""Telling "could not be reached at all" from every other failure of a platform or LLM endpoint.

Preflight reports a platform (API server, engine daemon, scheduler controller, login node) or an LLM endpoint that
cannot be contacted — connection refused, timeout, DNS failure, a missing daemon socket — as
:class:`tao_automl.errors.PlatformUnreachableError` (exit 3: retry later); one that answers and refuses (bad
credentials, unknown partition or namespace, missing image) stays a user error (exit 2).
"""

from __future__ import annotations

import re
import socket

#: Messages of command-line clients (sinfo, ssh, brev, docker) saying the other side could not be contacted.
UNREACHABLE_TEXT = re.compile(
    r"Unable to contact slurm controller|connect failure|Connection refused|Connection timed out|"
    r"Socket timed out|\btimed out\b|i/o timeout|Could not resolve host(name)?|Name or service not known|"
    r"Temporary failure in name resolution|nodename nor servname|no such host|No route to host|"
    r"Network is unreachable|Cannot connect to the Docker daemon|Failed to establish a new connection",
    re.IGNORECASE,
)

#: Exception classes (by name, so that no HTTP library is imported) that mean no answer came back: requests'
#: and httpx' connection and timeout errors, urllib3's, openai's.
_NO_ANSWER = frozenset({
    "ConnectionError", "ConnectTimeout", "ConnectTimeoutError", "NewConnectionError", "NameResolutionError",
    "ConnectError", "Timeout", "ReadTimeout", "ReadTimeoutError", "TimeoutException", "APIConnectionError",
    "APITimeoutError",
})


def unreachable_error(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it was raised from or while handling, or wraps) says the other side
    could not be contacted: a refused, reset or timed-out connection, a failed name lookup, a missing socket
    behind a connection error. A permission error anywhere in the chain (a daemon socket this user may not open)
    is the user's to fix, never "unreachable"."""
    chain: list[BaseException] = []
    stack: list[BaseException] = [exc]
    while stack:
        error = stack.pop()
        if any(error is seen for seen in chain):
            continue
        chain.append(error)
        linked = [error.__cause__, error.__context__, getattr(error, "reason", None)]
        for arg in error.args:  # wrappers such as requests' ConnectionError(ProtocolError(text, OSError))
            linked.extend(arg if isinstance(arg, (tuple, list)) else (arg,))
        stack.extend(e for e in linked if isinstance(e, BaseException))
    if any(isinstance(error, PermissionError) for error in chain):
        return False
    return any(isinstance(error, (ConnectionError, TimeoutError, socket.gaierror, socket.herror))
               or any(cls.__name__ in _NO_ANSWER for cls in type(error).__mro__) for error in chain)


def unreachable_text(text: str) -> bool:
    """True when a client's error message says the other side could not be contacted."""
    return bool(UNREACHABLE_TEXT.search(text or ""))
