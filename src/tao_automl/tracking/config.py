"""``wandb_config`` / ``mlflow_config``: checked up front (one-line errors), turned into observers lazily.

Neither config may hold a credential: W&B reads ``WANDB_API_KEY`` and MLflow ``MLFLOW_TRACKING_TOKEN`` /
``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` from the environment, and the run folder
stores the config as given, so a key placed there would be written to disk.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import netrc
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tao_automl.errors import MissingExtraError, UserInputError
from tao_automl.tracking.base import SweepObserver
from tao_automl.util.suggest import did_you_mean

log = logging.getLogger(__name__)

WANDB_KEYS = ("enabled", "project", "entity", "group", "tags", "mode", "dir", "notes")
MLFLOW_KEYS = ("enabled", "tracking_uri", "experiment", "artifact_location", "run_name", "tags")
WANDB_MODES = ("online", "offline", "disabled")
#: What ``wandb.Settings`` refuses in a project name (``validate_project`` in wandb/sdk/wandb_settings.py).
WANDB_PROJECT_CHARS = "/\\#?%:"
WANDB_PROJECT_MAX = 128
#: The longest tag W&B takes (``validate_run_tags`` in wandb/sdk/wandb_settings.py; an empty one is refused too).
WANDB_TAG_MAX = 64
#: The tags the MLflow tracker sets on a sweep's parent run (what ran, how it ended, the best), and the prefix of the
#: ones it finds the run again by: a user tag of these names would replace or be replaced by them.
MLFLOW_OWN_TAGS = ("algorithm", "metric", "direction", "state", "best_rec_id", "best_continued_from")
MLFLOW_OWN_PREFIX = "tao_automl."
_SECRET_HINTS = {
    "wandb_config": "set WANDB_API_KEY in the environment",
    "mlflow_config": "set MLFLOW_TRACKING_TOKEN (or MLFLOW_TRACKING_USERNAME/PASSWORD) in the environment",
}
_SECRET_WORDS = ("key", "token", "password", "secret")
_EXTRA = {"wandb_config": ("wandb", "wandb"), "mlflow_config": ("mlflow", "mlflow")}


def check_tracking_config(name: str, config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate ``wandb_config`` or ``mlflow_config``; return it as a plain dict (``{}`` when absent)."""
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise UserInputError(f"{name}: expected a mapping, got {type(config).__name__} {config!r}", field=name,
                             value=config, allowed="a mapping of " + ", ".join(
                                 WANDB_KEYS if name == "wandb_config" else MLFLOW_KEYS))
    allowed = WANDB_KEYS if name == "wandb_config" else MLFLOW_KEYS
    for key in config:
        if any(word in str(key).lower() for word in _SECRET_WORDS):
            raise UserInputError(f"{name}.{key}: credentials are never taken from a config (it is stored in the "
                                 f"run folder); {_SECRET_HINTS[name]}", field=f"{name}.{key}",
                                 value=key, allowed=allowed,  # the key's name, never the secret
                                 hint=_SECRET_HINTS[name])
        if key not in allowed:
            raise UserInputError(f"{name}: unknown key {key!r}{did_you_mean(str(key), allowed)}; "
                                 f"allowed: {', '.join(allowed)}", field=f"{name}.{key}", value=key, allowed=allowed)
    out = dict(config)
    if not isinstance(out.get("enabled", True), bool):
        raise UserInputError(f"{name}.enabled: expected true or false, got {out['enabled']!r}",
                             field=f"{name}.enabled", value=out["enabled"], allowed=[True, False])
    for key in ("project", "entity", "group", "dir", "notes", "tracking_uri", "experiment", "artifact_location",
                "run_name"):
        if key in out and not isinstance(out[key], str):
            raise UserInputError(f"{name}.{key}: expected a string, got {type(out[key]).__name__} {out[key]!r}",
                                 field=f"{name}.{key}", value=out[key], allowed="a string")
    if name == "wandb_config" and "project" in out:
        _check_wandb_project(out["project"])
    if name == "mlflow_config" and "tracking_uri" in out:
        _check_no_password_in_uri(out["tracking_uri"])
    if "mode" in out and out["mode"] not in WANDB_MODES:
        raise UserInputError(f"{name}.mode: {out['mode']!r} is not one of {', '.join(WANDB_MODES)}"
                             f"{did_you_mean(str(out['mode']), WANDB_MODES)}", field=f"{name}.mode",
                             value=out["mode"], allowed=list(WANDB_MODES))
    tags = out.get("tags")
    if name == "wandb_config" and tags is not None and (
            not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
        raise UserInputError(f"{name}.tags: expected a list of strings, got {tags!r}", field=f"{name}.tags",
                             value=tags, allowed="a list of strings")
    if name == "wandb_config" and tags:
        _check_wandb_tags(tags)
    if name == "mlflow_config" and tags is not None and not isinstance(tags, Mapping):
        raise UserInputError(f"{name}.tags: expected a mapping of tag name to value, got {tags!r}",
                             field=f"{name}.tags", value=tags, allowed="a mapping of tag name to value")
    if name == "mlflow_config" and tags:
        for tag in tags:
            if str(tag) in MLFLOW_OWN_TAGS or str(tag).startswith(MLFLOW_OWN_PREFIX):
                own = f"a tag name other than {', '.join(MLFLOW_OWN_TAGS)} and {MLFLOW_OWN_PREFIX}*"
                raise UserInputError(f"{name}.tags: {tag!r} is a tag the tracker sets on the sweep's parent run (it "
                                     f"would be replaced, or say something else than what ran); allowed: {own}",
                                     field=f"{name}.tags.{tag}", value=tag, allowed=own,
                                     hint=f"rename it, e.g. 'team.{tag}'")
    out = absolute_locations(out)
    if is_enabled(out):
        module, extra = _EXTRA[name]
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(name, module, extra)
        if name == "wandb_config":
            _check_wandb_login(out)
        else:
            _check_mlflow_file_store(out)
    return out


def _check_wandb_project(project: str) -> None:
    """A project name W&B refuses (a character of ``/\\#?%:``, over 128 characters): said before the run starts,
    not found when the tracker fails at its first use."""
    allowed = f"a name of at most {WANDB_PROJECT_MAX} characters, none of {' '.join(WANDB_PROJECT_CHARS)}"
    found = [c for c in WANDB_PROJECT_CHARS if c in project]
    if found or len(project) > WANDB_PROJECT_MAX:
        why = (f"has {' '.join(found)}" if found else f"has {len(project)} characters")
        raise UserInputError(f"wandb_config.project: {project!r} is not a W&B project name ({why}); allowed: "
                             f"{allowed}", field="wandb_config.project", value=project, allowed=allowed,
                             hint="use letters, digits, - _ . and spaces, e.g. 'my-sweep'")


def absolute_locations(config: dict[str, Any], base: Path | None = None) -> dict[str, Any]:
    """The config with its local paths (W&B's ``dir``; MLflow's ``sqlite:///`` database, plain-path store and
    ``artifact_location``) made absolute against ``base`` (default: the current directory; a CLI config: its
    folder): the config is stored with the run, and a resume started from another directory would otherwise log into
    another database, next to a parent left running in the first."""
    root = Path.cwd() if base is None else Path(base)
    out = dict(config)
    for key in ("dir", "artifact_location"):
        value = out.get(key)
        if isinstance(value, str) and value and not _has_scheme(value):
            out[key] = str((root / Path(value).expanduser()).resolve())
    uri = out.get("tracking_uri")
    if not isinstance(uri, str) or not uri:
        return out
    if uri.startswith("sqlite:///"):
        path, sep, query = uri[len("sqlite:///"):].partition("?")
        if path and path != ":memory:" and not path.startswith("/"):
            out["tracking_uri"] = f"sqlite:///{(root / Path(path).expanduser()).resolve()}{sep}{query}"
    elif not _has_scheme(uri) and uri != "databricks":  # MLflow's name of a Databricks workspace, not a path
        out["tracking_uri"] = str((root / Path(uri).expanduser()).resolve())
    return out


def _has_scheme(value: str) -> bool:
    """A URI (``s3://``, ``file:``, ``http:``), not a local path (a one-letter scheme is a Windows drive)."""
    return len(urlparse(value).scheme) > 1


def _check_wandb_tags(tags: list[str]) -> None:
    """A tag W&B refuses (empty, over 64 characters: ``validate_run_tags`` in wandb/sdk/wandb_settings.py) failed
    every W&B run of the sweep at its first use; said before the run starts."""
    allowed = f"tags of 1 to {WANDB_TAG_MAX} characters"
    for i, tag in enumerate(tags):
        if not tag or len(tag) > WANDB_TAG_MAX:
            why = "is empty" if not tag else f"has {len(tag)} characters"
            raise UserInputError(f"wandb_config.tags[{i}]: {tag!r} is not a W&B tag ({why}); allowed: {allowed}",
                                 field=f"wandb_config.tags[{i}]", value=tag, allowed=allowed)


def _check_no_password_in_uri(uri: str) -> None:
    """``http://user:password@host``: the config is stored in the run folder and the URI shows in MLflow's errors
    (the run's ``tracking_errors``, status.json, the log), so a password in it would be written there."""
    try:
        password = urlparse(uri).password
    except ValueError:  # a malformed URI: MLflow's own error says so at its first use
        return
    if password:
        shown = uri.replace(password, "<redacted>")
        raise UserInputError(f"mlflow_config.tracking_uri: {shown!r} holds a password; credentials are never taken "
                             f"from a config (it is stored in the run folder); {_SECRET_HINTS['mlflow_config']}",
                             field="mlflow_config.tracking_uri", value=shown,
                             allowed="a tracking URI without user:password@",
                             hint=_SECRET_HINTS["mlflow_config"])


def _check_mlflow_file_store(config: Mapping[str, Any]) -> None:
    """An MLflow file store (``file:`` or a plain path) that this MLflow refuses (3.x keeps it in maintenance mode
    unless ``MLFLOW_ALLOW_FILE_STORE=true``): said before the run starts, not found when nothing was logged. The
    check builds a file store beneath a file, where no folder can be made: MLflow's refusal comes first, and a store
    it takes fails at its first folder, so nothing is written anywhere (a temporary folder was, and a kill -9
    mid-check left it behind); the user's store is not touched."""
    uri = str(config.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI") or "")
    scheme = urlparse(uri).scheme
    if not uri or (scheme not in ("", "file") and len(scheme) > 1):  # a database or server (a drive letter is a path)
        return
    from mlflow.exceptions import MlflowException
    from mlflow.store.tracking.file_store import FileStore

    try:
        FileStore(root_directory=str(Path(__file__) / "mlruns"))  # type: ignore[no-untyped-call]
    except MlflowException as exc:
        raise UserInputError(
            f"mlflow_config.tracking_uri: {uri!r} is a file store, which the installed MLflow refuses "
            f"({str(exc).split('.')[0]}); use a database store such as 'sqlite:///mlflow.db', or set "
            "MLFLOW_ALLOW_FILE_STORE=true in the environment", field="mlflow_config.tracking_uri", value=uri,
            allowed="a database or server URI (sqlite:///..., http(s)://...), or a file store with "
                    "MLFLOW_ALLOW_FILE_STORE=true") from None
    except NotADirectoryError:  # taken: it went on to make its folder
        return


def _check_wandb_login(config: Mapping[str, Any]) -> None:
    """W&B online with no key would fail (or, on a terminal, stop and ask for one): say so before the run starts."""
    mode = config.get("mode") or os.environ.get("WANDB_MODE") or "online"
    if mode not in ("online", "run") or os.environ.get("WANDB_API_KEY"):
        return
    host = urlparse(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").hostname or ""
    try:
        if netrc.netrc(os.environ.get("NETRC") or None).authenticators(host):
            return  # `wandb login` stored a key
    except (OSError, netrc.NetrcParseError):
        pass
    raise UserInputError(f"wandb_config.mode: W&B {mode!r} mode needs an API key and none was found; set "
                         "WANDB_API_KEY in the environment (or run `wandb login`), or set mode: offline",
                         field="wandb_config.mode", value=mode, allowed=list(WANDB_MODES),
                         hint="export WANDB_API_KEY=... or use mode: offline")


def is_enabled(config: Mapping[str, Any]) -> bool:
    """A non-empty config is on unless it says ``enabled: false``."""
    return bool(config) and bool(config.get("enabled", True))


def build_observers(wandb_config: Mapping[str, Any] | None,
                    mlflow_config: Mapping[str, Any] | None) -> list[SweepObserver]:
    """The trackers the two configs ask for (their packages are imported only here, only when enabled)."""
    observers: list[SweepObserver] = []
    for config, module, name in ((wandb_config, "wandb_tracker", "WandbTracker"),
                                 (mlflow_config, "mlflow_tracker", "MlflowTracker")):
        if not config or not is_enabled(config):
            continue
        try:
            tracker = getattr(importlib.import_module(f"tao_automl.tracking.{module}"), name)(config)
        except Exception:  # e.g. the package broke after the up-front check: the sweep goes on without it
            log.exception("%s could not be set up; the sweep goes on without it", name)
            continue
        observers.append(tracker)
    return observers
