"""TAO-agnostic search-space value types: parameters, sampling, unit-cube encoding, relations.

The public face is :mod:`tao_automl.space.search_space`; the names below are re-exported for callers.
"""

from tao_automl.space.search_space import (
    BoolParam,
    CategoricalParam,
    Config,
    FloatParam,
    IntGridParam,
    IntParam,
    ListParam,
    OptionalListParam,
    Param,
    Relation,
    SearchSpace,
    SubsetParam,
    describe,
)

__all__ = [
    "BoolParam",
    "CategoricalParam",
    "Config",
    "FloatParam",
    "IntGridParam",
    "IntParam",
    "ListParam",
    "OptionalListParam",
    "Param",
    "Relation",
    "SearchSpace",
    "SubsetParam",
    "describe",
]
