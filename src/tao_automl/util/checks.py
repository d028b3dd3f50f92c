"""Type checks of public arguments: a wrong type is a one-line :class:`UserInputError` (or the subclass given)
naming the argument, the value and what is allowed, never a raw ``TypeError`` from deeper down.

Imported by ``tao-automl status``: no typing or pathlib at start-up."""

from __future__ import annotations

import os

from tao_automl.errors import UserInputError

#: The largest integer a run records (SQLite's INTEGER, a 64-bit signed number): a larger setting or spec integer
#: is refused up front instead of failing every rec when it is stored.
INT64_MAX = 2**63 - 1

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def bad_input(name: str, value: Any, allowed: str, hint: str | None = None,
              error: type[UserInputError] = UserInputError) -> UserInputError:
    """The one-line error for ``name``'s ``value``: "NAME: VALUE is not allowed; expected ALLOWED"."""
    shown = repr(value) if len(repr(value)) <= 120 else repr(value)[:117] + "..."
    return error(f"{name}: {shown} is not allowed; expected {allowed}", field=name, value=value, allowed=allowed,
                 hint=hint)


def path_arg(name: str, value: Any, what: str = "a folder path", error: type[UserInputError] = UserInputError) -> str:
    """``value`` (a non-blank string or an ``os.PathLike``) as a string."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise bad_input(name, value, f"{what} (a non-empty str or pathlib.Path)", error=error)
    return value


def name_arg(name: str, value: Any, error: type[UserInputError] = UserInputError) -> str:
    """``value`` when it is a non-blank string."""
    if not isinstance(value, str) or not value.strip():
        raise bad_input(name, value, "a non-empty string", error=error)
    return value


def bool_arg(name: str, value: Any) -> bool:
    """``value`` when it is ``True`` or ``False`` (not a truthy string or number)."""
    if not isinstance(value, bool):
        raise bad_input(name, value, "True or False")
    return value


def callable_arg(name: str, value: Any) -> None:
    """``value`` is None or callable."""
    if value is not None and not callable(value):
        raise bad_input(name, value, "a callable (function) or None")
