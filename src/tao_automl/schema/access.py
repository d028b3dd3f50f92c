"""Read-only access to a TAO ``train.schema.json``: properties by dotted name, defaults, AutoML lists.

Groups are properties of ``type: collection`` with their own ``properties``. The real schemas
also hold a few non-dict entries under ``properties`` (e.g. a stray ``automl_disabled_parameters``
list); those are never properties and are ignored everywhere.

Disabled rule (what the real bank does): every searchable leaf lives under groups such as
``train``/``model``/``dataset`` that carry ``automl_enabled: false`` and are listed in
``automl_disabled_parameters`` while their children are enabled. So a name is disabled only when
*that exact name* is in the top-level ``automl_disabled_parameters`` (or in the list of one of its
ancestor groups), or when its *own* leaf property says ``automl_enabled: false``. Group flags never
propagate to children.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from tao_automl.errors import SearchSpaceError


def _props(node: Mapping[str, Any]) -> Mapping[str, Any]:
    props = node.get("properties")
    return props if isinstance(props, Mapping) else {}


def get_property(schema: Mapping[str, Any], dotted: str) -> Mapping[str, Any] | None:
    """The property dict at ``dotted`` (e.g. ``"train.optim.lr"``), or None when there is none."""
    node: Mapping[str, Any] = schema
    for part in dotted.split("."):
        child = _props(node).get(part)
        if not isinstance(child, Mapping):
            return None
        node = child
    return node


def _assemble_defaults(node: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, prop in _props(node).items():
        if not isinstance(prop, Mapping):
            continue
        if isinstance(prop.get("properties"), Mapping) and not isinstance(prop.get("default"), Mapping):
            out[key] = _assemble_defaults(prop)
        elif "default" in prop:
            out[key] = copy.deepcopy(prop["default"])
    return out


def schema_defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The full nested default spec: the top-level ``default`` if present, else built from properties."""
    top = schema.get("default")
    if isinstance(top, Mapping):
        return copy.deepcopy(dict(top))
    return _assemble_defaults(schema)


def _string_list(schema: Mapping[str, Any], key: str) -> list[str]:
    value = schema.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SearchSpaceError(f"schema field {key!r} must be a list of dotted names, got {value!r}",
                               value=value, allowed="a list of dotted param names (strings)")
    return list(value)


def automl_candidates(schema: Mapping[str, Any]) -> list[str]:
    """What is searched when the user names nothing: the schema's top-level ``automl_default_parameters``; a schema
    without that list (a user's own model), every leaf whose own ``automl_enabled`` is true and that no
    ``automl_disabled_parameters`` list names, in schema order."""
    if schema.get("automl_default_parameters") is not None:
        return _string_list(schema, "automl_default_parameters")
    return [name for name in iter_leaf_names(schema) if _enabled_leaf(schema, name) and not is_disabled(schema, name)]


def _enabled_leaf(schema: Mapping[str, Any], dotted: str) -> bool:
    prop = get_property(schema, dotted)
    return prop is not None and not isinstance(prop.get("properties"), Mapping) \
        and _flag(dotted, prop.get("automl_enabled")) is True


def iter_leaf_names(schema: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Every dotted name of the schema (groups and leaves), depth first."""
    for key, prop in _props(schema).items():
        if isinstance(prop, Mapping):
            yield prefix + key
            yield from iter_leaf_names(prop, prefix + key + ".")


def _key_paths(node: Mapping[str, Any], keys: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, prop in _props(node).items():
        if isinstance(prop, Mapping):
            yield (*keys, str(key))
            yield from _key_paths(prop, (*keys, str(key)))


def unaddressable_key(schema: Mapping[str, Any], dotted: str) -> tuple[str, str] | None:
    """``(key, parent)`` when ``dotted`` reaches a property only through a schema key holding ``.``, ``[`` or ``]``
    (``"optim.lr"`` under ``train``): no dotted name can address it and a spec written from the name would put the
    value elsewhere (``train.optim.lr`` nested, ``lr[0]`` a list item); else None."""
    for keys in _key_paths(schema):
        if ".".join(keys) == dotted:
            bad = next((i for i, key in enumerate(keys) if any(c in key for c in ".[]")), None)
            if bad is not None:
                return keys[bad], ".".join(keys[:bad]) or "the top level"
    return None


def is_disabled(schema: Mapping[str, Any], dotted: str) -> bool:
    """Whether ``dotted`` is AutoML-disabled by the rule in the module docstring."""
    if dotted in _string_list(schema, "automl_disabled_parameters"):
        return True
    parts = dotted.split(".")
    for i in range(1, len(parts)):
        group = get_property(schema, ".".join(parts[:i]))
        if group is not None and dotted in _string_list(group, "automl_disabled_parameters"):
            return True
    prop = get_property(schema, dotted)
    is_group = prop is not None and isinstance(prop.get("properties"), Mapping)
    return prop is not None and not is_group and _flag(dotted, prop.get("automl_enabled")) is False


_FLAG_TEXT = {"true": True, "false": False}


def bool_text(value: Any) -> bool | None:
    """A schema flag: a JSON bool, or the text ``"true"``/``"false"`` in any case (as TAO writes ``parent_param:
    "TRUE"``); None for anything else."""
    if isinstance(value, bool):
        return value
    return _FLAG_TEXT.get(value.strip().lower()) if isinstance(value, str) else None


def _flag(dotted: str, value: Any) -> bool | None:
    """A leaf's ``automl_enabled`` (:func:`bool_text`); None when absent. Anything else is a SearchSpaceError: read
    as enabled, a ``"FALSE"`` searched a param the schema disables."""
    flag = bool_text(value)
    if value is None or flag is not None:
        return flag
    raise SearchSpaceError(
        f"schema param {dotted!r}: automl_enabled={value!r} is not a flag; allowed: true or false (or the text "
        "'true'/'false')", field=f"schema property {dotted}", value=value, allowed=[True, False])
