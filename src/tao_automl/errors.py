"""Exception types and the CLI's exit codes.

Every error raised on purpose carries structured fields a program can act on: ``kind`` (a stable word naming
the class of problem), ``field`` (the setting or argument at fault), ``value`` (what was given), ``allowed``
(what would be accepted), ``hint`` (the next step) and ``exit_code``. ``str(error)`` is the one-line message built
from them; :meth:`TaoAutoMLError.to_json` is the same data as a JSON-ready mapping.

Exit codes of ``tao-automl`` (documented here once; README and SKILL.md point at this table):

====  ==========================================================================================
code  meaning
====  ==========================================================================================
0     success (for a sweep: at least one rec produced a result)
1     the sweep ran but produced no result, or failed for a reason that is not the user's input
2     user error: bad config, argument, path or setting; nothing was started or created
3     platform unreachable: the platform (or LLM endpoint) could not be contacted; retry later
4     the run folder is busy: another orchestrator process holds its lock
130   interrupted (Ctrl-C); jobs keep running, continue with ``tao-automl resume RUN_DIR``
====  ==========================================================================================

Constructors stay compatible with plain exceptions: ``UserInputError("message")`` still works; the keyword
fields are optional and, when the message is omitted, the message is built from them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

TYPE_CHECKING = False  # typing stays out of the CLI's start-up
if TYPE_CHECKING:
    from pathlib import Path
    from types import ModuleType
    from typing import Any, TypeVar

    _E = TypeVar("_E", bound="TaoAutoMLError")

EXIT_OK = 0
EXIT_NO_RESULT = 1
EXIT_USER_ERROR = 2
EXIT_PLATFORM_UNREACHABLE = 3
EXIT_RUN_BUSY = 4
EXIT_INTERRUPTED = 130

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success: at least one rec of the sweep produced a result",
    EXIT_NO_RESULT: "the sweep ran but produced no result, or an internal failure",
    EXIT_USER_ERROR: "user error: bad config, argument, path or setting; nothing was started",
    EXIT_PLATFORM_UNREACHABLE: "the platform or LLM endpoint could not be reached; retry later",
    EXIT_RUN_BUSY: "another orchestrator process holds the run folder's lock",
    EXIT_INTERRUPTED: "interrupted; jobs keep running, continue with `tao-automl resume RUN_DIR`",
}

_UNSET: Any = object()


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data: containers recursively, numbers/strings/None as they are, anything else as repr."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else repr(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    try:
        import numbers

        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real):
            return _jsonable(float(value))
    except (TypeError, ValueError):  # pragma: no cover - exotic numeric types
        pass
    return str(value)


_FIELD_PREFIX = re.compile(r"([A-Za-z_][\w.]*(?:\[[\w'\"]+\])*): ")


def _leading_field(message: str) -> str | None:
    """``automl_settings.algorithm`` from ``"automl_settings.algorithm: unknown ..."`` (older plain messages)."""
    match = _FIELD_PREFIX.match(message)
    return match.group(1) if match else None


def _allowed_text(allowed: Any) -> str:
    if isinstance(allowed, str):
        return allowed
    if isinstance(allowed, Sequence):
        return ", ".join(str(a) for a in allowed)
    return str(allowed)


class TaoAutoMLError(Exception):
    """Base class of every error this package raises on purpose.

    Subclasses set ``kind``, ``exit_code`` and ``default_hint`` as class attributes; any instance may override
    the first two.
    """

    kind: str = "error"
    exit_code: int = EXIT_NO_RESULT
    #: The ``hint`` of the JSON form when the raiser gave none (the one-line message shows only a given hint).
    default_hint: str = "rerun with -v for details"
    #: What ran before the failure produced, for the JSON form next to ``error`` (a failed preflight's ``checks``).
    produced: dict[str, Any] | None = None

    def __init__(self, message: str | None = None, *, field: str | None = None, value: Any = _UNSET,
                 allowed: Any = None, hint: str | None = None, kind: str | None = None,
                 exit_code: int | None = None) -> None:
        self.field = field
        self.has_value = value is not _UNSET
        self.value = value if self.has_value else None
        self.allowed = allowed
        self.hint = hint
        if kind is not None:
            self.kind = kind
        if exit_code is not None:
            self.exit_code = exit_code
        self.detail = message if message is not None else self._built_message()
        if self.field is None and message:
            self.field = _leading_field(message)
        super().__init__(self._one_line())

    def _built_message(self) -> str:
        subject = self.field or "input"
        text = f"{subject}: {_short(self.value)} is not valid" if self.has_value else f"{subject} is missing or invalid"
        if self.allowed is not None:
            text += f"; allowed: {_allowed_text(self.allowed)}"
        return text

    def _one_line(self) -> str:
        text = " ".join(str(self.detail).split())
        if self.hint and self.hint not in text:
            text += f" (hint: {self.hint})"
        return text

    @property
    def message(self) -> str:
        """The one-line message (same as ``str(error)``)."""
        return str(self)

    def rebuilt(self: _E, message: str, **fields: Any) -> _E:
        """A copy of this error, of its class and with its attributes, saying ``message`` with the keyword
        ``fields`` (``field``, ``value``, ``allowed``, ``hint``, ``kind``) in place of its own; unlike
        ``type(error)(...)`` it also works for a class whose constructor takes other arguments
        (:class:`MissingExtraError`)."""
        out = type(self).__new__(type(self))
        out.__dict__.update(self.__dict__)
        own = {"field": self.field, "value": self.value if self.has_value else _UNSET, "allowed": self.allowed,
               "hint": self.hint}
        TaoAutoMLError.__init__(out, message, **{**own, **fields})
        return out

    def to_json(self) -> dict[str, Any]:
        """The error as JSON data: ``{"kind", "message", "field", "value", "allowed", "hint", "exit_code"}``."""
        return {
            "kind": self.kind,
            "message": str(self),
            "field": self.field,
            "value": _jsonable(self.value),
            "allowed": _jsonable(self.allowed),
            "hint": self.hint or self.default_hint,
            "exit_code": self.exit_code,
        }


class UserInputError(TaoAutoMLError, ValueError):
    """Bad input from the user: a setting, a path, a range. Shown as one line, never a traceback."""

    default_hint = "fix the input named in field (see allowed) and retry; nothing was started"

    kind = "user_input"
    exit_code = EXIT_USER_ERROR


class MissingExtraError(UserInputError):
    """A feature needs an optional package that is not installed: ``field`` names the package, ``allowed`` and
    ``hint`` the pip command that installs the extra providing it."""

    kind = "missing_extra"

    def __init__(self, what: str, package: str, extra: str) -> None:
        command = f"pip install 'tao-run-automl[{extra}]'"
        super().__init__(f"{what} needs the {package!r} package, which is not installed; install the {extra} extra: "
                         f"{command}", field=package, value=None, allowed=command, hint=command)
        self.extra = extra


def require_extra(module: str, extra: str, what: str) -> ModuleType:
    """``module`` imported, or a :class:`MissingExtraError` naming its package and the ``extra`` that provides it
    (``what`` says which feature needs it)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(what, module.split(".")[0], extra) from None


class ConfigError(UserInputError):
    """A run config file (YAML) is missing, unreadable or has a wrong key or type."""

    default_hint = "fix the key named in field in the run config and retry"

    kind = "config"


class SettingsError(UserInputError):
    """An ``automl_settings`` key or value is invalid."""

    default_hint = "set the automl_settings key named in field to one of allowed"

    kind = "settings"


class SkillError(UserInputError):
    """A skill directory is missing, incomplete or not runnable for AutoML."""

    default_hint = "pick a runnable model from `tao-automl models --scope automl`"

    kind = "skill"


class SearchSpaceError(UserInputError):
    """A search-space definition (schema, hyperparameter list, custom range) is invalid."""

    default_hint = "use the parameter names and ranges shown by `tao-automl models --scope automl`"

    kind = "search_space"


class PreflightError(UserInputError):
    """A preflight check (dataset, credentials, image, platform arguments) failed before anything started."""

    default_hint = "fix the failed check and rerun `tao-automl preflight CONFIG`"

    kind = "preflight"


class WorkspaceError(UserInputError):
    """A run folder cannot be created, found or resumed."""

    default_hint = "pass the run folder printed by `tao-automl run --detach`, or a new workspace_path"

    kind = "workspace"


class WorkspaceLockedError(WorkspaceError):
    """Another orchestrator process holds the run folder's lock."""

    default_hint = "poll `tao-automl status RUN_DIR` until it ends, or `tao-automl stop RUN_DIR`"

    kind = "run_busy"
    exit_code = EXIT_RUN_BUSY

    def __init__(self, message: str | None = None, **fields: Any) -> None:
        fields.setdefault("allowed", "a run folder no other orchestrator holds (once it has ended or been stopped)")
        super().__init__(message, **fields)


class PlatformError(TaoAutoMLError):
    """A platform SDK failed in a way that ends the job it concerns."""

    default_hint = "read the rec's message in `tao-automl status RUN_DIR`; resume once the platform works"

    kind = "platform"


class PlatformUnreachableError(PlatformError):
    """The platform (scheduler, API, daemon) or the LLM endpoint could not be contacted at all (connection refused,
    timeout, DNS failure, no daemon socket); nothing was started. One that answers and refuses (bad credentials,
    unknown partition, missing image) is a user error instead."""

    default_hint = ("make sure the platform or LLM endpoint named in the message is up and reachable from this "
                    "machine, then retry; nothing was started")

    kind = "platform_unreachable"
    exit_code = EXIT_PLATFORM_UNREACHABLE


class PlatformFullError(PlatformError):
    """The platform refused a job for a limit that frees as jobs end (a Kubernetes ResourceQuota on Jobs, CPUs or
    GPUs in use): the rec is not failed, it waits for room and is submitted again (see the runner's ``_keep_full``)."""

    default_hint = ("the run waits for room and submits the job again as soon as one of its jobs ends; lower "
                    "automl_max_concurrent to the platform's quota, or ask for a larger quota")


#: ``allowed`` of a :class:`SweepFailedError`: what would have made the command work (``run``, ``export --best``,
#: ``report --format png`` on a run without a result).
NO_RESULT_ALLOWED = "a rec that ended with a metric value"


class SweepFailedError(TaoAutoMLError):
    """The sweep ran but produced no result (every rec failed, or it stopped early on a repeated cause)."""

    default_hint = "read the failed recs in `tao-automl status RUN_DIR --json`, fix the cause, resume"

    kind = "no_result"
    exit_code = EXIT_NO_RESULT


class InternalError(TaoAutoMLError):
    """An unexpected exception, wrapped so ``--json`` callers still get one JSON object."""

    default_hint = "rerun with -v for details; this is a bug or an unexpected environment problem"

    kind = "internal"
    exit_code = EXIT_NO_RESULT


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C (or ``tao-automl stop``, SIGTERM) during a sweep: its jobs keep running and the run folder ``run_dir``
    resumes it (None: interrupted before a run folder existed). Still a :class:`KeyboardInterrupt`."""

    def __init__(self, run_dir: str | Path | None) -> None:
        import shlex  # not at import: errors is on every command's start-up path (and below util: no import of it)

        where = (f"; resume it with AutoMLRunner(...).run(workspace_path={str(run_dir)!r}, resume=True) or "
                 f"`tao-automl resume {shlex.quote(str(run_dir))}`") if run_dir else ""
        super().__init__(f"sweep interrupted: its jobs keep running{where}")
        self.run_dir = run_dir


def error_json(exc: BaseException) -> dict[str, Any]:
    """``{"error": {...}}`` for any exception; unexpected ones become :class:`InternalError`."""
    if not isinstance(exc, TaoAutoMLError):  # a full disk or a read-only folder is the machine's state, not a bug
        exc = storage_error(exc) or InternalError(
            f"{type(exc).__name__}: {exc}",
            hint="this is a bug or an unexpected environment problem; rerun with -v for details")
    data = exc.to_json()
    run_dir = getattr(exc, "run_dir", None)  # the run a sweep had made when it stopped (set by the runner)
    if run_dir is None:
        return {**(exc.produced or {}), "error": data}
    import shlex  # not at import: errors is on every command's start-up path

    if isinstance(data["hint"], str):
        data["hint"] = data["hint"].replace("RUN_DIR", shlex.quote(str(run_dir)))
    return {"run_dir": str(run_dir), **(exc.produced or {}), "error": data}


def storage_error(exc: BaseException) -> TaoAutoMLError | None:
    """A failed write because the disk is full (or a quota met) or the folder is read-only, as a one-line error
    naming the path; None for any other exception."""
    what = _storage_failure(exc)
    if what is None:
        return None
    path = getattr(exc, "filename", None)
    where = f" writing {path!r}" if path else " writing the run folder's state"
    run_dir = getattr(exc, "run_dir", None)  # set by the sweep that was running
    if run_dir is not None:
        import shlex  # not at import: errors is on every command's start-up path

        resume = (f"the run keeps what it recorded: once there is space, continue it with "
                  f"`tao-automl resume {shlex.quote(str(run_dir))}`")
    else:
        resume = "a run that had started keeps what it recorded and continues with `tao-automl resume RUN_DIR`"
    return WorkspaceError(f"{what}{where}", field="workspace_path", value=path,
                          allowed="a folder on a file system with free space that you can write",
                          hint=f"free space (or choose another workspace_path); {resume}")


def _storage_failure(exc: BaseException) -> str | None:
    """What a failed write says of its disk: "no space left on the device" (full, or a quota met), "the file system
    is read-only"; None for any other exception."""
    import errno

    if (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or (
            type(exc).__module__ == "sqlite3" and "disk is full" in str(exc)):
        return "no space left on the device"
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:
        return "the file system is read-only"
    return None


def new_run_storage_error(exc: BaseException, workspace: str | Path, path: str | Path, *,
                           field: str = "workspace_path",
                           again: str = "run the same command again") -> WorkspaceError | None:
    """A full disk (or read-only folder) met while a new run folder was being made under ``workspace`` (``path``:
    the folder being written when the error carries no file name), naming both; no run exists, so the hint says to
    do it ``again`` (the CLI's command, the Python call), not to resume. ``field``: the argument that named the
    folder. None for any other exception."""
    what = _storage_failure(exc)
    if what is None:
        return None
    written = getattr(exc, "filename", None) or path
    return WorkspaceError(
        f"{what} writing {str(written)!r} while creating a new run under {field} {str(workspace)!r}; "
        "no run was created",
        field=field, value=str(workspace),
        allowed="a folder on a file system with free space that you can write",
        hint=f"free space on the file system that holds {str(workspace)!r} (or choose another {field}), then "
             f"{again}; there is no run to resume")
