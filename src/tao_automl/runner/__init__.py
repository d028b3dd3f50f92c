"""The sweep loop (:class:`AutoMLRunner`), its persisted arguments, fidelity plumbing and clean-up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tao_automl.runner.loop import AutoMLRunner

__all__ = ["AutoMLRunner"]


def __getattr__(name: str) -> Any:
    """Import the loop (numpy, brains) only when :class:`AutoMLRunner` is asked for."""
    if name == "AutoMLRunner":
        from tao_automl.runner.loop import AutoMLRunner

        return AutoMLRunner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The package's names and :class:`AutoMLRunner` (imported lazily), so ``dir()`` and tab completion show it."""
    return sorted({*globals(), *__all__})
