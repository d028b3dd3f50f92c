"""Loading a model's skill folder: ``skill_info.yaml``, the action's schema, its template."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from tao_automl.bank.image import resolve_image
from tao_automl.errors import SkillError
from tao_automl.schema.access import get_property
from tao_automl.schema.baseline import baseline
from tao_automl.util.builtin import BUILTIN_PREFIX
from tao_automl.util.checks import name_arg, path_arg
from tao_automl.util.dotted import flatten
from tao_automl.util.suggest import did_you_mean, nearest
from tao_automl.util.yaml_numbers import load_spec_yaml, refuse_duplicate_keys


@dataclass(frozen=True)
class Skill:
    """One model of a skill bank, for one action."""

    path: Path
    info: dict[str, Any]
    action: str
    schema: dict[str, Any]
    template: dict[str, Any] | None

    @property
    def name(self) -> str:
        return str(self.info.get("name") or self.path.name)

    @property
    def action_info(self) -> dict[str, Any]:
        info: dict[str, Any] = self.info["actions"][self.action]
        return info

    @property
    def command_template(self) -> str:
        return str(self.action_info["command"])

    @property
    def config_format(self) -> str:
        return str(self.action_info.get("config_format", "yaml")).lower()

    @property
    def container_image_ref(self) -> str | None:
        """The image as written: action-level ``container_image`` wins over the top-level one."""
        image = self.action_info.get("container_image") or self.info.get("container_image")
        return str(image) if image else None

    @property
    def container_image(self) -> str | None:
        """The image URI; a legacy versions key (``tao_toolkit.pyt``) is resolved through the bank's versions.yaml."""
        return resolve_image(self.container_image_ref, self.path)

    @property
    def spec_shorthand_keys(self) -> dict[str, str]:
        """Short aliases for spec keys (``num_epochs`` -> ``train.num_epochs``)."""
        raw = self.info.get("spec_shorthand_keys") or {}
        return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}

    @property
    def data_sources(self) -> dict[str, Any]:
        sources = (self.info.get("data_sources") or {}).get(self.action) or {}
        return dict(sources)

    @property
    def spec_params(self) -> dict[str, Any]:
        """``spec_params.<action>``: spec key -> role name (or a literal / download rule the renderer leaves alone)."""
        return dict((self.info.get("spec_params") or {}).get(self.action) or {})

    @property
    def _action_entry(self) -> Mapping[str, Any]:
        """``actions.<action>`` of skill_info, or an empty mapping when absent."""
        entry = (self.info.get("actions") or {}).get(self.action)
        return entry if isinstance(entry, Mapping) else {}

    @property
    def kpi_metric(self) -> str | None:
        """``kpi_metric`` of skill_info, else the action's own ``metric`` (the TAO bank's
        ``actions.<action>.metric``)."""
        value = self.info.get("kpi_metric") or self._action_entry.get("metric")
        return str(value) if value else None

    @property
    def metric_file(self) -> str | None:
        """The action's ``metric_file``: a results file, relative to the job's results dir, read for the metric when
        neither status.json nor the log gives it (the TAO bank's ``actions.<action>.metric_file``)."""
        value = self._action_entry.get("metric_file")
        return str(value) if value else None

    def monitoring_metric(self) -> str | None:
        """The network's monitoring metric: :attr:`kpi_metric` (skill_info's ``kpi_metric``, else the action's
        ``metric``), else the spec's ``*.monitor_name``."""
        if self.kpi_metric:
            return self.kpi_metric
        for key, value in flatten(self.schema.get("default") or {}):
            if key.rsplit(".", 1)[-1] == "monitor_name" and isinstance(value, str) and value:
                return value
        return None

    @property
    def kpi_direction(self) -> str | None:
        """``kpi_direction`` of skill_info; when the KPI is the action's ``metric``, the action's ``metric_direction``
        unless ``kpi_direction`` is set."""
        value = self.info.get("kpi_direction")
        if not value and not self.info.get("kpi_metric"):
            value = self._action_entry.get("metric_direction")
        return str(value) if value else None

    @property
    def reported_metrics(self) -> list[str]:
        """``reported_metrics`` of skill_info (our extension): every metric a job reports; empty when undeclared."""
        return [str(m) for m in self.info.get("reported_metrics") or []]


def read_model_file(path: Path) -> str:
    """The text of a file of the model folder (UTF-8, a byte-order mark allowed); a :class:`SkillError` naming the
    file when it is not UTF-8 or cannot be read (it was a UnicodeDecodeError traceback)."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start:exc.start + 1].hex()
        raise SkillError(f"{path}: not UTF-8 text (byte 0x{byte} at offset {exc.start}); allowed: a UTF-8 text file",
                         field=path.name, value=str(path), allowed="a UTF-8 text file",
                         hint=f"save {path.name} as UTF-8") from None
    except OSError as exc:
        raise SkillError(f"{path}: cannot be read ({exc.strerror or exc}); allowed: a readable file",
                         field=path.name, value=str(path), allowed="a readable file") from None


class _InfoLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last one silently)."""


refuse_duplicate_keys(_InfoLoader)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error on one line: what is wrong and where (line, column)."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return f"{exc.__class__.__name__}: {exc}"
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{exc.problem or exc.context}{where}"


def read_model_yaml(path: Path, spec: bool = False) -> Any:
    """A YAML file of the model folder, each key of a mapping given once (a repeated key was kept last, silently:
    a second ``train:`` section dropped the first); a ``spec`` template as a TAO job's loader reads it (YAML 1.2
    numbers; OmegaConf refuses a repeated key too)."""
    text = read_model_file(path)
    try:
        return load_spec_yaml(text) if spec else yaml.load(text, Loader=_InfoLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise SkillError(f"{path}: not valid YAML: {_yaml_problem(exc)}; allowed: a YAML mapping, each key once",
                         field=path.name, value=str(path), allowed="a YAML mapping, each key once",
                         hint=f"fix {path.name} at the position shown") from None


def _missing_dir_hint(path: Path) -> str:
    """``" (did you mean ...)"`` for a near-miss sibling folder, or the bank folder of that name
    (``$TAO_SKILL_BANK_PATH``; ``skill_dir`` is a path, not a bank name)."""
    from tao_automl.bank.layout import BANK_ENV, models_dir

    with contextlib.suppress(OSError):
        if path.parent.is_dir():
            hint = did_you_mean(path.name, [p.name for p in path.parent.iterdir() if p.is_dir()])
            if hint:
                return hint
    bank = os.environ.get(BANK_ENV)
    if bank and Path(bank).expanduser().is_dir():
        with contextlib.suppress(SkillError, OSError):
            folder = models_dir(Path(bank).expanduser())
            names = [p.name for p in folder.iterdir() if p.is_dir()]
            name = path.name if path.name in names else nearest(path.name, names)
            if name:
                return f"; ${BANK_ENV} has a model {name!r}: skill_dir: {folder / name}"
    return ""


def load_skill(skill_dir: str | Path, action: str = "train") -> Skill:
    """Load and check a skill folder (``builtin:<name>``: a model shipped in the package, as a run config names it);
    every problem is a one-line :class:`SkillError`."""
    if isinstance(skill_dir, str) and skill_dir.startswith(BUILTIN_PREFIX):
        from tao_automl.bank import builtin_skill_dir

        skill_dir = builtin_skill_dir(skill_dir[len(BUILTIN_PREFIX):])
    # absolute, so a refusal names the folder that was looked in (a notebook's working directory is not obvious)
    path = Path(path_arg("skill_dir", skill_dir, "a model folder", error=SkillError)).expanduser().absolute()
    name_arg("action", action, error=SkillError)
    if not path.is_dir():
        raise SkillError(f"skill_dir {str(path)!r} does not exist or is not a directory{_missing_dir_hint(path)}",
                         field="skill_dir", value=str(path),
                         allowed="a model folder (references/skill_info.yaml, schemas/)")
    path = path.resolve()
    info_path = path / "references" / "skill_info.yaml"
    if not info_path.is_file():
        raise SkillError(f"skill_dir {str(path)!r} is not a model skill: missing references/skill_info.yaml",
                         field="skill_dir", value=str(path),
                         allowed="a model folder (references/skill_info.yaml, schemas/)")
    info = read_model_yaml(info_path)
    if not isinstance(info, Mapping):
        raise SkillError(f"{info_path}: expected a mapping at the top level", field="skill_dir", value=str(path),
                         allowed="a model folder whose references/skill_info.yaml is a mapping")
    actions = _optional_mapping(info_path, "actions", info.get("actions"))
    if action not in actions:
        raise SkillError(
            f"action {action!r} is not defined in {info_path}{did_you_mean(action, actions)}; "
            f"available: {', '.join(sorted(actions)) or 'none'}",
            field="action", value=action, allowed=sorted(actions),
            hint=f"set action to one of the model's actions: {', '.join(sorted(actions))}" if actions else None,
        )
    check_info(info, info_path, action)
    schema_path = path / "schemas" / f"{action}.schema.json"
    if not info.get("automl_enabled", False):
        said = "has automl_enabled: false" if "automl_enabled" in info else "does not set automl_enabled: true"
        also = "" if schema_path.is_file() else f", and its schema is missing too ({schema_path})"
        raise SkillError(f"model {info.get('name', path.name)!r} {said} in {info_path}{also}",
                         field="automl_enabled", value=info.get("automl_enabled"), allowed=[True],
                         hint=f"add `automl_enabled: true` to {info_path} once its schema marks what may be searched")
    if not schema_path.is_file():
        raise SkillError(
            f"model {info.get('name', path.name)!r} has AutoML enabled but is not runnable until its schema is "
            f"shipped: missing {schema_path}", field="skill_dir", value=str(path),
            allowed=f"a model folder with schemas/{action}.schema.json")
    schema = load_schema(schema_path)
    template = load_template(path, info, action, schema)
    return Skill(path=path, info=dict(info), action=action, schema=schema, template=template)


#: What ``config_format`` may name (the spec writer's formats).
CONFIG_FORMATS = ("yaml", "yml", "json", "toml")
#: ``kpi_direction`` values (the settings' directions).
KPI_DIRECTIONS = ("minimize", "maximize")


def _bad_info(info_path: Path, key: str, value: Any, allowed: Any, expected: str | None = None) -> SkillError:
    shown = repr(value) if len(repr(value)) <= 120 else repr(value)[:117] + "..."
    return SkillError(f"{info_path}: {key}: {shown} is not allowed; expected {expected or allowed}", field=key,
                      value=value, allowed=allowed, hint=f"fix {key} in the model's references/skill_info.yaml")


def _name(info_path: Path, key: str, value: Any, what: str = "a non-empty string") -> None:
    if not isinstance(value, str) or not value.strip():
        raise _bad_info(info_path, key, value, what)
    if value != value.strip():
        raise _bad_info(info_path, key, value, f"{what} without surrounding spaces ({value.strip()!r})")


def _optional_mapping(info_path: Path, key: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _bad_info(info_path, key, value, "a mapping")
    return value


def check_info(info: Mapping[str, Any], info_path: Path, action: str) -> None:
    """The typed fields of ``skill_info.yaml`` that tao-automl reads, for ``action``: a wrong type or value is a
    :class:`SkillError` naming the file, the field, the value and what is allowed. An absent field (or null) is
    left to its default."""
    for key in ("name", "container_image"):
        if info.get(key) is not None:
            _name(info_path, key, info[key])
    if "automl_enabled" in info and not isinstance(info["automl_enabled"], bool):
        raise _bad_info(info_path, "automl_enabled", info["automl_enabled"], [True, False], "true or false")
    _check_metrics(info, info_path)
    actions = info.get("actions")
    entry = actions.get(action) if isinstance(actions, Mapping) else None
    where = f"actions.{action}"
    if not isinstance(entry, Mapping):
        raise _bad_info(info_path, where, entry, "a mapping with at least 'command'")
    if "command" not in entry:
        raise SkillError(f"{info_path}: {where} has no 'command'", field=f"{where}.command", value=None,
                         allowed="the command line that runs the action",
                         hint=f"add {where}.command to the model's references/skill_info.yaml")
    _name(info_path, f"{where}.command", entry["command"], "a non-empty command line")
    _check_action_metric(entry, info_path, where, info.get("reported_metrics"))
    if entry.get("config_format") is not None:
        fmt = entry["config_format"]
        if not isinstance(fmt, str) or fmt.lower() not in CONFIG_FORMATS:
            raise _bad_info(info_path, f"{where}.config_format", fmt, list(CONFIG_FORMATS),
                            f"one of {', '.join(CONFIG_FORMATS)}{did_you_mean(str(fmt).lower(), CONFIG_FORMATS)}")
    if entry.get("container_image") is not None:
        _name(info_path, f"{where}.container_image", entry["container_image"])
    for key in ("inputs", "outputs"):
        _optional_mapping(info_path, f"{where}.{key}", entry.get(key))
    shorthand = _optional_mapping(info_path, "spec_shorthand_keys", info.get("spec_shorthand_keys"))
    for alias, target in shorthand.items():
        _name(info_path, f"spec_shorthand_keys.{alias}", target, "a dotted spec key")
    sources = _optional_mapping(info_path, f"data_sources.{action}", _optional_mapping(
        info_path, "data_sources", info.get("data_sources")).get(action))
    for key, rule in sources.items():
        if not isinstance(rule, Mapping):
            raise _bad_info(info_path, f"data_sources.{action}.{key}", rule, "a mapping (source, path, ...)")
    _optional_mapping(info_path, f"spec_params.{action}",
                      _optional_mapping(info_path, "spec_params", info.get("spec_params")).get(action))
    template = _optional_mapping(info_path, "spec_templates", info.get("spec_templates")).get(action)
    if template is not None:
        _name(info_path, f"spec_templates.{action}", template, "a file path relative to references/")


def _check_metrics(info: Mapping[str, Any], info_path: Path) -> None:
    """``kpi_metric``, ``kpi_direction`` and ``reported_metrics`` (our extensions)."""
    kpi = info.get("kpi_metric")
    if kpi is not None:
        _name(info_path, "kpi_metric", kpi, "a non-empty metric name (a string)")
    direction = info.get("kpi_direction")
    if direction is not None and direction not in KPI_DIRECTIONS:
        raise _bad_info(info_path, "kpi_direction", direction, list(KPI_DIRECTIONS),
                        f"one of {', '.join(KPI_DIRECTIONS)}{did_you_mean(str(direction), KPI_DIRECTIONS)}")
    reported = info.get("reported_metrics")
    if reported is None:
        return
    if isinstance(reported, (str, bytes)) or not isinstance(reported, list):
        raise _bad_info(info_path, "reported_metrics", reported, "a list of metric names")
    for i, name in enumerate(reported):
        _name(info_path, f"reported_metrics[{i}]", name, "a non-empty metric name (a string)")
        if name in reported[:i]:
            raise _bad_info(info_path, f"reported_metrics[{i}]", name, "a name not already in the list")
    if kpi is not None and reported and kpi not in reported:
        raise _bad_info(info_path, "kpi_metric", kpi, reported,
                        f"one of reported_metrics ({', '.join(reported)}){did_you_mean(kpi, reported)}")


def _check_action_metric(entry: Mapping[str, Any], info_path: Path, where: str, reported: Any) -> None:
    """The action's ``metric`` and ``metric_direction`` (the TAO bank's per-action spelling of the KPI)."""
    metric = entry.get("metric")
    if metric is not None:
        _name(info_path, f"{where}.metric", metric, "a non-empty metric name (a string)")
        if isinstance(reported, list) and reported and metric not in reported:
            raise _bad_info(info_path, f"{where}.metric", metric, reported,
                            f"one of reported_metrics ({', '.join(map(str, reported))})"
                            f"{did_you_mean(metric, [str(r) for r in reported])}")
    metric_file = entry.get("metric_file")
    if metric_file is not None:
        _name(info_path, f"{where}.metric_file", metric_file, "a file name relative to the job's results folder")
        if PurePosixPath(metric_file).is_absolute() or ".." in PurePosixPath(metric_file).parts:
            raise _bad_info(info_path, f"{where}.metric_file", metric_file,
                            "a file name relative to the job's results folder (no leading /, no ..)")
    direction = entry.get("metric_direction")
    if direction is not None and direction not in KPI_DIRECTIONS:
        raise _bad_info(info_path, f"{where}.metric_direction", direction, list(KPI_DIRECTIONS),
                        f"one of {', '.join(KPI_DIRECTIONS)}{did_you_mean(str(direction), KPI_DIRECTIONS)}")


class _RepeatedKey(ValueError):
    """A JSON object of the schema gives one key twice."""


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each given once (``json`` keeps the last of two silently: a second ``"lr"``
    property replaced the first without a word)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _RepeatedKey(key)
        out[key] = value
    return out


def load_schema(schema_path: Path) -> dict[str, Any]:
    """The action's schema: a JSON object with a ``properties`` mapping, each key of an object given once."""
    text = read_model_file(schema_path)
    try:
        schema = json.loads(text, object_pairs_hook=_unique_object)
    except json.JSONDecodeError as exc:
        raise SkillError(f"{schema_path}: invalid JSON at line {exc.lineno}: {exc.msg}", field=schema_path.name,
                         allowed="a valid JSON object") from None
    except _RepeatedKey as exc:
        key = exc.args[0]
        raise SkillError(f"{schema_path}: key {key!r} is given twice in one JSON object (only the last would count); "
                         "allowed: each key once", field=schema_path.name, value=key, allowed="each key once",
                         hint=f"remove or rename one of the two {key!r} entries in {schema_path.name}") from None
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        raise SkillError(f"{schema_path}: not a TAO schema (no top-level 'properties' mapping)", field=schema_path.name,
                         allowed="a JSON object with a top-level 'properties' mapping")
    return schema


def load_template(path: Path, info: Mapping[str, Any], action: str,
                  schema: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The action's spec template of the model folder ``path``: the file ``spec_templates.<action>`` names (relative
    to ``references/``, or to the model folder as the bank writes ``references/spec_template_train.yaml``), else
    ``references/spec_template_<action>.yaml`` when it exists, else None. A named file that is not there is a
    :class:`SkillError` (the default file, or no template at all, was used without a word). With ``schema``, a
    template that cannot be merged over the schema's defaults (:func:`check_template_shape`) is one too."""
    found = template_path(path, info, action)
    if found is None:
        return None
    data = _read_template(found)
    if schema is not None and data:
        check_template_shape(found, schema, data)
    return data


def template_path(path: Path, info: Mapping[str, Any], action: str) -> Path | None:
    """The file :func:`load_template` reads for ``action`` of the model folder ``path`` (None: no template); a file
    that ``spec_templates.<action>`` names but is not there is a :class:`SkillError`."""
    rel = (info.get("spec_templates") or {}).get(action)
    if rel:
        candidates = [(path / "references" / rel).resolve(), (path / rel).resolve()]
        found: Path | None = next((c for c in candidates if c.is_file()), None)
        if found is None:
            field = f"spec_templates.{action}"
            raise SkillError(
                f"{path / 'references' / 'skill_info.yaml'}: {field}: {rel!r} names no file (looked for "
                f"{' and '.join(str(c) for c in dict.fromkeys(candidates))}); allowed: a file path relative to "
                "references/", field=field, value=rel, allowed="a file path relative to references/",
                hint=f"fix {field} in the model's references/skill_info.yaml, or remove it to use "
                     f"references/spec_template_{action}.yaml")
        return found
    default = path / "references" / f"spec_template_{action}.yaml"
    return default.resolve() if default.is_file() else None


def check_template_shape(template_path: Path, schema: Mapping[str, Any], template: Mapping[str, Any]) -> None:
    """A :class:`SkillError` naming the template file and key when the template puts a mapping where the schema's
    defaults hold a value (``train: {layers: {a: 1}}`` over ``layers: 2``): merged over the defaults it cannot be
    placed (a ValueError traceback at run time), or a value where the schema has a group (``train: {optim: 0.01}``:
    a rec failed late, "rec value: cannot set 'train.optim.lr'", or the job got a number for a group)."""
    try:
        baseline(schema, template)
    except ValueError as exc:
        raise SkillError(f"{template_path}: {exc} in the schema's defaults; allowed: a mapping only where the schema "
                         "has a group of settings", field=template_path.name, value=str(template_path),
                         allowed="a mapping only where the schema has a group of settings",
                         hint=f"fix {template_path.name}: give that key the value itself, not a mapping") from None
    for key, value in flatten(template):
        prop = get_property(schema, key)
        group = prop is not None and isinstance(prop.get("properties"), Mapping) and bool(prop["properties"])
        if group and value is None:  # `train:` with every line under it commented out: the job got `train: null`
            raise SkillError(
                f"{template_path}: {key}: is empty (null; are all its settings commented out?), but {key!r} is a group "
                "of settings in the schema; allowed: a mapping of its settings, or no such key (or "
                f"`{key.rsplit('.', 1)[-1]}: {{}}`) to keep the schema's defaults", field=template_path.name,
                value=str(template_path), allowed=f"a mapping at {key}, or no {key} key",
                hint=f"fix {template_path.name}: set the settings inside {key}, or remove the empty {key}:")
        if group and value is not None and not isinstance(value, Mapping):
            raise SkillError(
                f"{template_path}: {key}: {value!r} is a value, but {key!r} is a group of settings in the schema; "
                "allowed: a mapping of its settings", field=template_path.name, value=str(template_path),
                allowed=f"a mapping at {key}", hint=f"fix {template_path.name}: set the settings inside {key}")


def _read_template(candidate: Path) -> dict[str, Any] | None:
    """A spec template: a ``.toml`` file as TOML (it was read as YAML and refused as "not valid YAML"), any other
    as YAML (JSON included)."""
    if candidate.suffix.lower() == ".toml":
        return _read_toml(candidate)
    data = read_model_yaml(candidate, spec=True)  # `lr: 1e-4` is the float a TAO job reads
    if data is not None and not isinstance(data, dict):
        raise SkillError(f"{candidate}: expected a mapping at the top level", field=candidate.name,
                         value=type(data).__name__, allowed="a mapping (key: value) at the top level")
    return data


def _read_toml(path: Path) -> dict[str, Any]:
    """A TOML template, read with ``tomllib`` (Python 3.11+) or ``tomli``; a SkillError naming the file when it is not
    valid TOML or no TOML reader is installed."""
    reader = None
    for name in ("tomllib", "tomli"):
        with contextlib.suppress(ImportError):
            reader = importlib.import_module(name)
            break
    if reader is None:
        raise SkillError(f"{path}: a TOML spec template needs Python 3.11+ or the tomli package; allowed: a YAML "
                         "template, or pip install tomli", field=path.name, value=str(path),
                         allowed="a YAML template, or tomli installed", hint="pip install tomli")
    text = read_model_file(path)
    try:
        data: dict[str, Any] = reader.loads(text)
    except reader.TOMLDecodeError as exc:
        raise SkillError(f"{path}: not valid TOML: {exc}; allowed: a TOML table of spec keys", field=path.name,
                         value=str(path), allowed="a TOML table of spec keys",
                         hint=f"fix {path.name} at the position shown") from None
    return data
