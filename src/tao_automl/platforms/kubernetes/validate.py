"""Checks of the names a Job's pod refers to, as the API server and the kubelet parse them (pure: no cluster).

Each raises :class:`UserInputError` naming the setting (``image``, ``service_account``, ``node_selector`` ...),
the value and what is allowed, so a run refuses them before any job exists instead of failing every rec at the
API server (HTTP 422) or at the kubelet (``InvalidImageName``)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from tao_automl.errors import UserInputError
from tao_automl.platforms.image_reference import reference_problem

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*\Z")
SUBDOMAIN_ALLOWED = ("a lowercase RFC 1123 subdomain: at most 253 lowercase letters, digits, '-' and '.', "
                     "alphanumeric at both ends (e.g. 'training-bot')")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?\Z")
LABEL_KEY_ALLOWED = ("a label key: an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' "
                     "and '.', alphanumeric at both ends (e.g. 'nvidia.com/gpu.product')")
LABEL_VALUE_ALLOWED = "a label value: at most 63 letters, digits, '-', '_' and '.', alphanumeric at both ends, or empty"
IMAGE_ALLOWED = ("an image reference [registry[:port]/]name[:tag][@digest] whose name is lowercase letters, digits "
                 "and '.', '_', '-' between them (e.g. nvcr.io/nvidia/tao/tao-toolkit:5.5.0-pyt)")


def subdomain(key: str, value: object) -> str:
    """``value`` as the name of an object in the cluster (a service account, a secret)."""
    text = str(value)
    if not isinstance(value, str) or len(text) > 253 or not _SUBDOMAIN.match(text):
        raise UserInputError(f"{key}: {value!r} is not a valid name; allowed: {SUBDOMAIN_ALLOWED}", field=key,
                             value=value, allowed=SUBDOMAIN_ALLOWED)
    return text


def is_label_key(name: object) -> bool:
    """Whether ``name`` is a label key the API server takes (see ``LABEL_KEY_ALLOWED``)."""
    prefix, _, last = str(name).rpartition("/")
    return bool(_LABEL_NAME.match(last)) and not (prefix and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix))) \
        and not (not prefix and "/" in str(name))


def is_label_value(value: object) -> bool:
    """Whether ``value`` is a label value the API server takes (see ``LABEL_VALUE_ALLOWED``)."""
    return bool(_LABEL_VALUE.match(str(value)))


def label_selector(key: str, value: object) -> dict[str, str]:
    """``value`` as a mapping of label key -> label value (a node selector)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UserInputError(f"{key} must be a mapping of label -> value, got {value!r}", field=key, value=value,
                             allowed="a mapping of label key -> label value")
    for name, wanted in value.items():
        if not is_label_key(name):
            raise UserInputError(f"{key}: {name!r} is not a valid label key; allowed: {LABEL_KEY_ALLOWED}", field=key,
                                 value=value, allowed=LABEL_KEY_ALLOWED)
        if isinstance(wanted, bool) or wanted is None:  # str() would give 'True' / 'None', which no node has
            kind = "null" if wanted is None else "boolean"
            raise UserInputError(f"{key}[{name!r}]: {wanted!r} is a YAML {kind}, not a label value; quote it "
                                 f"({name}: 'true'), as label values are text; allowed: "
                                 f"{LABEL_VALUE_ALLOWED}", field=key, value=value, allowed=LABEL_VALUE_ALLOWED)
        if not _LABEL_VALUE.match(str(wanted)):
            raise UserInputError(f"{key}[{name!r}]: {wanted!r} is not a valid label value; allowed: "
                                 f"{LABEL_VALUE_ALLOWED}", field=key, value=value, allowed=LABEL_VALUE_ALLOWED)
    return {str(k): str(v) for k, v in value.items()}


def image_reference(image: str) -> str:
    """``image`` if a node's container runtime can parse it, else a UserInputError naming field ``image``."""
    why = reference_problem(image)
    if why:
        raise UserInputError(f"image: {image!r} is not a valid image reference: {why}; allowed: {IMAGE_ALLOWED}",
                             field="image", value=image, allowed=IMAGE_ALLOWED)
    return image
