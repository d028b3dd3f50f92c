"""Results people can look at: the self-contained HTML report and the convergence PNG (extra ``report``)."""

from __future__ import annotations

import importlib
from types import ModuleType

from tao_automl.errors import UserInputError


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` or raise a one-line error naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserInputError(f"{what} needs the {module.split('.')[0]!r} package; install the extra: "
                             "pip install 'tao-run-automl[report]'") from None
