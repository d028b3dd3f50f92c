"""tao-run-automl: hyperparameter search for GPU training jobs.

Public API: :class:`AutoMLRunner` (the whole loop on a platform SDK), :class:`AutoML` (ask/tell),
:func:`query_status` (read a run from another process).
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: the CLI's start-up imports no typing (`tao-automl --help` stays fast)

__version__ = "0.1.0"
__all__ = ["AutoML", "AutoMLRunner", "__version__", "query_status"]

if TYPE_CHECKING:
    from typing import Any

    from tao_automl.automl import AutoML
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.status import query_status

_LAZY = {"AutoML": "tao_automl.automl", "AutoMLRunner": "tao_automl.runner.loop", "query_status": "tao_automl.status"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tao_automl' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names and the lazily imported public API, so ``dir()``, tab completion and ``help()`` show it."""
    return sorted({*globals(), *__all__})
