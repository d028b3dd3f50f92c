"""The ``builtin:`` prefix: a model or dataset shipped inside the package (``builtin:demo-digits-mlp``,
``builtin:digits``), not a path."""

from __future__ import annotations

BUILTIN_PREFIX = "builtin:"
#: The datasets shipped in the package, as a dataset URI or path names them (the demo network reads them).
BUILTIN_DATASETS = ("builtin:digits",)
