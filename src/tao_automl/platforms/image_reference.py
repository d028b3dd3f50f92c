"""Image references as container runtimes parse them (github.com/distribution/reference), for every platform that
runs images: ``[REGISTRY[:PORT]/]NAME[:TAG][@DIGEST]``, NAME lowercase. Pure: no engine, no cluster."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tao_automl.platforms.base import PlatformCheck

_PATH = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*\Z")
_DOMAIN = re.compile(r"^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*"
                     r"[a-zA-Z0-9]))*|\[[0-9a-fA-F:]+\])(:[0-9]+)?\Z")
_TAG = re.compile(r"^[\w][\w.-]{0,127}\Z")
_DIGEST = re.compile(r"^[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}\Z")
#: The longest name (registry and path, without tag or digest) a runtime takes.
NAME_MAX = 255


def reference_problem(image: str) -> str | None:
    """Why a container runtime cannot parse ``image`` as an image reference, or None when it can."""
    rest, _, digest = image.partition("@")
    head, slash, last = rest.rpartition("/")
    name, colon, tag = last.partition(":")
    full = head + slash + name
    first, _, path = full.partition("/")
    domain, name = (first, path) if path and ("." in first or ":" in first or first == "localhost") else ("", full)
    if not name or len(full) > NAME_MAX or not _PATH.match(name):
        return ("the repository name must be lowercase" if name and len(full) <= NAME_MAX
                and _PATH.match(name.lower()) else f"{name!r} is not a valid repository name")
    if domain and not _DOMAIN.match(domain):
        return f"{domain!r} is not a valid registry host"
    if colon and not _TAG.match(tag):
        return f"{tag!r} is not a valid tag (at most 128 letters, digits, '_', '.', '-'; not starting with '.' or '-')"
    if digest and not _DIGEST.match(digest):
        return f"{digest!r} is not a valid digest (algorithm:hex, e.g. sha256:<64 hex digits>)"
    return None


#: What an image reference may be, for errors.
IMAGE_ALLOWED = ("an image reference [registry[:port]/]name[:tag][@digest] whose name is lowercase letters, digits "
                 "and '.', '_', '-' between them (e.g. nvcr.io/nvidia/tao/tao-toolkit:5.5.0-pyt)")


def checked_image(image: object) -> str:
    """``image`` if a container runtime can parse it, else a UserInputError naming field ``image``, the value and
    what is allowed."""
    from tao_automl.errors import UserInputError

    why = reference_problem(image) if isinstance(image, str) else f"{type(image).__name__} is not a text"
    if why:
        raise UserInputError(f"image: {image!r} is not a valid image reference: {why}; allowed: {IMAGE_ALLOWED}",
                             field="image", value=image, allowed=IMAGE_ALLOWED)
    assert isinstance(image, str)
    return image


def image_check(image: str, pulled_when: str, check: Callable[[str], object] = checked_image) -> PlatformCheck:
    """Preflight's ``image`` check where the platform pulls the image itself when a job starts: failed (with the
    error ``check`` raised) for a reference no container runtime can parse, else not checked, saying who pulls it
    (``pulled_when``, e.g. "Lepton pulls it when a job starts")."""
    from tao_automl.errors import UserInputError
    from tao_automl.platforms.base import PlatformCheck

    try:
        check(image)
    except UserInputError as exc:
        return PlatformCheck("image", False, exc.detail, error=exc)
    return PlatformCheck("image", None, f"{image}: not checked ({pulled_when})")
