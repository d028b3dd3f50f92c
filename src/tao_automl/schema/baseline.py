"""The base spec of a job: what each key holds before a rec's values are set, and where that value came from.

Layers, later wins: the schema's defaults, the model's spec template, the run's ``spec_overrides`` (dotted leaf
keys, already resolved). The search space reads it so that a param that is not searched is judged by the value the
job really gets (a ``depends_on`` parent fixed at 100 by an override bounds its dependent by 100, not by the
schema default), and ``tao-automl models`` shows that value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tao_automl.schema.access import schema_defaults
from tao_automl.util.dotted import flatten, get_dotted, with_values

SCHEMA_DEFAULT = "the schema default"
TEMPLATE = "the spec template"
OVERRIDE = "spec_overrides"
_MISSING = object()


@dataclass(frozen=True)
class Baseline:
    """A nested base spec and, per dotted key set above the schema defaults, where its value came from."""

    spec: Mapping[str, Any]
    origins: Mapping[str, str] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return get_dotted(self.spec, name, _MISSING) is not _MISSING

    def value(self, name: str) -> Any:
        """The value at ``name`` (None when the spec has no such key)."""
        return get_dotted(self.spec, name)

    def origin(self, name: str) -> str:
        """``spec_overrides``, ``the spec template`` or ``the schema default``."""
        return self.origins.get(name, SCHEMA_DEFAULT)

    def where(self, name: str) -> str:
        """``spec_overrides.<name>``, ``the spec template`` or ``the schema default``: for error messages."""
        origin = self.origin(name)
        return f"{OVERRIDE}.{name}" if origin == OVERRIDE else origin


def baseline(schema: Mapping[str, Any], template: Mapping[str, Any] | None = None,
             overrides: Mapping[str, Any] | None = None, *, origin: str = OVERRIDE) -> Baseline:
    """The schema defaults, then ``template``'s leaves, then ``overrides`` (dotted leaf keys, labelled ``origin``).
    The template is merged as TAO merges a spec file over its defaults: an empty mapping (``train: {}``) where the
    defaults hold a group adds nothing and keeps the group's defaults (it replaced them with ``{}``)."""
    spec = schema_defaults(schema)
    origins: dict[str, str] = {}
    if template:
        leaves = {key: value for key, value in flatten(template)
                  if not (isinstance(value, Mapping) and not value and isinstance(get_dotted(spec, key), Mapping))}
        spec = with_values(spec, leaves)
        origins.update(dict.fromkeys(leaves, TEMPLATE))
    if overrides:
        spec = with_values(spec, overrides)
        origins.update(dict.fromkeys(overrides, origin))
    return Baseline(spec, origins)
