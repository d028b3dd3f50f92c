"""The ``builtin:`` prefix: a model or dataset shipped inside the package (``builtin:demo-digits-mlp``,
``builtin:digits``), not a path."""

from __future__ import annotations

BUILTIN_PREFIX = "builtin:"
#: scikit-learn's digits, which the demo network (``tao_automl.demo.digits_mlp``) trains on.
BUILTIN_DIGITS = "builtin:digits"
#: The datasets shipped in the package, as a dataset URI or path names them (the demo network reads them).
BUILTIN_DATASETS = (BUILTIN_DIGITS,)
#: The module a built-in dataset is read with, and the extra that installs it (jobs fail without it).
BUILTIN_DATASET_NEEDS: dict[str, tuple[str, str]] = {BUILTIN_DIGITS: ("sklearn", "demo")}
