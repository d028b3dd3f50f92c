"""YAML numbers as TAO's loaders read them, and why a number in a run config arrived as text.

PyYAML follows YAML 1.1, where a float needs a dot (``1e-4`` is the text ``"1e-4"``); YAML 1.2 and the
OmegaConf/Hydra loaders TAO jobs use read ``1e-4`` as a number, and a date such as ``2024-01-01`` as text. So a
spec template is read with :class:`SpecLoader` (``lr: 1e-4`` is the float the job will see, as the schema says; a
date stays text), and a spec file is written
with :class:`SpecDumper`, which quotes a string that such a loader would read as a number (an option ``"1e-3"``
stays the text the run records).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml

#: A number with an exponent and no dot (or no sign after the ``e``): a float in YAML 1.2, a string in YAML 1.1.
EXPONENT_NUMBER = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
#: YAML 1.2 forms that YAML 1.1 reads as text: an octal ``0o17``.
_OCTAL_12 = re.compile(r"^0o[0-7]+$")

_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BASE_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class SpecLoader(_BASE_LOADER):  # type: ignore[misc]
    """PyYAML's safe loader, reading ``1e-4`` (and ``1E5``, ``-2.5e3``) as floats."""


SpecLoader.add_implicit_resolver("tag:yaml.org,2002:float", EXPONENT_NUMBER, list("-+0123456789."))
# OmegaConf reads ``2024-01-01`` (and ``2024-01-01 10:00:00``) as text, so a template's date is the string the job
# sees; PyYAML's timestamp made it a date object that JSON cannot write (a traceback) and TOML wrote as text.
SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in SpecLoader.yaml_implicit_resolvers.items()}


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _unique_mapping(loader: Any, node: yaml.MappingNode, deep: bool = False) -> Any:
    """A mapping whose keys are each given once (PyYAML keeps the last of two equal keys silently); a merge key
    (``<<: *defaults``) is YAML's own and merges as usual."""
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, (str, int, float, bool)):
            continue
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


def refuse_duplicate_keys(loader: Any) -> None:
    """Make the YAML ``loader`` class refuse a key given twice in one mapping (:func:`_unique_mapping`)."""
    loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


refuse_duplicate_keys(SpecLoader)  # as OmegaConf's loader: a key given twice is an error, not the last one kept


class SpecDumper(_BASE_DUMPER):  # type: ignore[misc]
    """PyYAML's safe dumper, quoting strings that a YAML 1.2 loader would read as numbers."""


def _represent_str(dumper: Any, text: str) -> Any:
    if EXPONENT_NUMBER.match(text) or _OCTAL_12.match(text):
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="'")
    return dumper.represent_str(text)


SpecDumper.add_representer(str, _represent_str)


def _read_by_pyyaml(text: str) -> str:
    """The tag PyYAML's loaders (YAML 1.1) give the plain scalar ``text`` (``...:float``, ``...:str``)."""
    resolver: Any = yaml.resolver.Resolver()
    return str(resolver.resolve(yaml.ScalarNode, text, (True, False)))


def _as_yaml_11_float(text: str, number: float) -> str:
    """``text`` (an exponent form) spelled so that PyYAML reads the float ``number``: a digit before the dot, a dot,
    a signed exponent (``-.5e3`` -> ``-0.5e+3``); ``repr(number)`` should that still not read as one."""
    mantissa, _, exponent = text.lower().partition("e")
    sign, digits = (mantissa[0], mantissa[1:]) if mantissa[0] in "+-" else ("", mantissa)
    digits = f"0{digits}" if digits.startswith(".") else digits if "." in digits else f"{digits}.0"
    written = f"{sign}{digits}e{exponent if exponent[0] in '+-' else '+' + exponent}"
    return written if _read_by_pyyaml(written).endswith(":float") else repr(number)


def number_as_text_hint(value: object, *, integer: bool = False,
                        refuses: Callable[[float], str] | None = None) -> str:
    """`` (YAML reads 1e-5 as text: write 1.0e-5)`` for a string that is a number in exponent form PyYAML (a run
    config's loader, YAML 1.1) reads as text (no dot, no exponent sign, ``.5e3`` after a sign, ``1_000e3``), else
    ``""``: appended to a "needs a number" error. ``integer`` (the value must be an int): ``write 1000`` for ``1e3``
    (``1.0e+3`` is the float 1000.0, refused in turn), and no hint for a text that is no integer (``1e-3``).
    ``refuses``: what the field allows when it refuses the number (its range), ``""`` when it takes it; a number it
    refuses is named with that range, never offered as the spelling to write."""
    text = value.strip() if isinstance(value, str) else ""
    if not EXPONENT_NUMBER.match(text) or not _read_by_pyyaml(text).endswith(":str"):
        return ""
    try:
        number = float(text.replace("_", ""))
    except ValueError:  # `._e3`: no digit at all
        return ""
    if integer and not (number.is_integer() and abs(number) < 1e18):
        return ""
    shown = int(number) if integer else number
    allowed = refuses(shown) if refuses is not None else ""
    if allowed:
        return f" (YAML reads {text} as text, not a number; the number, {shown}, is not allowed either: {allowed})"
    written = int(number) if integer else _as_yaml_11_float(text, number)
    return f" (YAML reads {text} as text, not a number: write {written})"


def load_spec_yaml(text: str) -> Any:
    """``text`` as a TAO loader reads it (see the module docstring)."""
    return yaml.load(text, Loader=SpecLoader)


def dump_spec_yaml(data: Any) -> str:
    """``data`` as YAML that PyYAML and YAML 1.2 loaders read back to the same values (keys in their order)."""
    return str(yaml.dump(data, Dumper=SpecDumper, sort_keys=False))
