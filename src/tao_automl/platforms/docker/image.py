"""The job's image on a Docker engine: is it there, can its registry give it, why a pull of it failed.

Errors name the field ``image`` and the image: an engine that answered is never "the platform could not be
reached". A registry that answers "not found" (or refuses) is the user's to fix; a registry the engine cannot
contact (DNS, refused, timeout) is "retry later" (exit 3), still naming the image.
"""

from __future__ import annotations

import re
from typing import Any

from tao_automl.errors import PlatformError, PlatformUnreachableError, PreflightError, TaoAutoMLError, UserInputError
from tao_automl.platforms.base import PlatformCheck
from tao_automl.platforms.image_reference import reference_problem
from tao_automl.util.reach import unreachable_error, unreachable_text

IMAGE_ALLOWED = ("an image on the engine (listed by `docker images`) or one its registry serves (`docker pull IMAGE` "
                 "works from the engine's machine)")
_IMAGE_HINT = ("check the image name and tag (the run config's image, else the skill's container_image), or put the "
               "image on the engine (docker pull / docker load / docker build), then retry; nothing was started")


#: What a registry (through the engine) says when the pull had no or wrong credentials.
_NEEDS_LOGIN = re.compile(r"unauthorized|authentication required|access denied|denied: requested access|"
                          r"may require 'docker login'|no basic auth credentials", re.IGNORECASE)

REFERENCE_ALLOWED = ("a Docker image reference [REGISTRY[:PORT]/]NAME[:TAG][@DIGEST] whose NAME is lowercase "
                     "(a-z, 0-9, separated by . _ __ or -), e.g. nvcr.io/nvidia/tao/tao-toolkit:5.5.0-pyt")


def check_reference(image: str) -> str:
    """``image`` when Docker can parse it as an image reference, else a :class:`UserInputError` naming it (the
    engine's own answer is a raw "invalid reference format" HTTP 400)."""
    problem = reference_problem(image)
    if problem is None:
        return image
    why = ("its repository name must be lowercase" if reference_problem(image.lower()) is None else
           f"it does not follow Docker's reference format ({problem})")
    raise UserInputError(f"image: {image!r} is not a valid Docker image reference: {why}", field="image",
                         value=image, allowed=REFERENCE_ALLOWED,
                         hint="fix the run config's image (else the skill's container_image); nothing was started")


def registry_of(image: str) -> str:
    """The registry host of an image reference (``docker.io`` when its first component names no host)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def why(exc: BaseException) -> str:
    """What the engine said, without docker-py's "500 Server Error for http+docker://..." wrapping."""
    return " ".join(str(getattr(exc, "explanation", None) or exc).split())


def registry_error(image: str, exc: BaseException, action: str) -> TaoAutoMLError:
    """The error of an image the engine lacks and whose registry did not give it (``action``: what was tried)."""
    said = why(exc)
    if unreachable_error(exc) or unreachable_text(said):
        return PlatformUnreachableError(
            f"image {image!r} is not on the Docker engine (which answered) and its registry {registry_of(image)} "
            f"could not be contacted to {action}: {said}", field="image", value=image, allowed=IMAGE_ALLOWED,
            hint=f"make sure the engine's machine reaches {registry_of(image)} (DNS, proxy, network), or put the "
                 "image on the engine (docker load / docker build), then retry; nothing was started")
    hint = _IMAGE_HINT
    if _NEEDS_LOGIN.search(said):
        hint = (f"the registry wants credentials it was not given: run `docker login {registry_of(image)}` as the user "
                "that runs tao-automl (its ~/.docker/config.json is what the pull sends), or check the image name and "
                "tag (a registry may answer 'unauthorized' or 'denied' for an image it does not have), then retry; "
                "nothing was started")
    return PreflightError(f"image {image!r} is not on the Docker engine and its registry {registry_of(image)} does "
                          f"not give it: {said}", field="image", value=image, allowed=IMAGE_ALLOWED, hint=hint)


def image_check(client: Any, errors: Any, image: str) -> PlatformCheck:
    """Preflight: a valid reference, and the image is on the engine or its registry knows it (nothing is pulled)."""
    try:
        check_reference(image)
    except UserInputError as exc:
        invalid = PreflightError(exc.detail, field="image", value=image, allowed=exc.allowed, hint=exc.hint)
        return PlatformCheck("image", False, invalid.detail, error=invalid)
    try:
        client.images.get(image)
        return PlatformCheck("image", True, f"{image} is on the engine")
    except errors.ImageNotFound:
        pass
    except errors.DockerException as exc:
        refused = PreflightError(f"image {image!r}: the Docker engine refused to look it up: {why(exc)}",
                                 field="image", value=image, allowed=IMAGE_ALLOWED, hint=_IMAGE_HINT)
        return PlatformCheck("image", False, refused.detail, error=refused)
    try:
        client.images.get_registry_data(image)
    except errors.DockerException as exc:
        error = registry_error(image, exc, "look it up")
        return PlatformCheck("image", False, error.detail, unreachable=isinstance(error, PlatformUnreachableError),
                             error=error)
    return PlatformCheck("image", True, f"{image} is not on the engine; its registry has it (pulled when the first "
                         "job starts)")


def pull_error(image: str, said: BaseException | str) -> PlatformError:
    """The error of a job whose image the engine lacks and could not pull: a :class:`PlatformError` naming the image
    and what the registry (or the engine) said, ``said`` (an exception, or the error line of the pull's stream)."""
    exc = said if isinstance(said, BaseException) else RuntimeError(said)
    cause = registry_error(image, exc, "pull it")
    error = PlatformError(f"docker: image {image!r} is not on the engine and could not be pulled: {why(exc)}",
                          field="image", value=image, allowed=IMAGE_ALLOWED, hint=cause.hint)
    error.__cause__ = said if isinstance(said, BaseException) else None
    return error
