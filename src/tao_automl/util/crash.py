"""Named crash points for the chaos tests: SIGKILL this process at an exact step when asked to.

``TAO_AUTOML_CRASH_AT=<point>[:<n>]`` kills the process (SIGKILL, no cleanup) the ``n``-th time (default 1)
execution reaches ``crash_point(<point>)``. Unset, a crash point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "TAO_AUTOML_CRASH_AT"
_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    """SIGKILL this process here if ``$TAO_AUTOML_CRASH_AT`` names this point (and its hit count is reached)."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    point, _, count = wanted.partition(":")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
