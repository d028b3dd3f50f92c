"""Results people can look at: the self-contained HTML report and the convergence PNG (extra ``report``)."""

from __future__ import annotations

from types import ModuleType

from tao_automl.errors import require_extra


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` or raise a one-line error naming the extra that provides it."""
    return require_extra(module, "report", what)
