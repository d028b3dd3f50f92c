"""Every user-input error says what is allowed (``allowed``, machine-readable), not only in its prose: errors a
program (an AI agent reading ``--json`` or a tool's answer) gets from a direct call of each package."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tao_automl.brain.classic.bayesian import BayesianBrain
from tao_automl.brain.classic.tpe import TPEBrain
from tao_automl.brain.llm.research_program import ResearchProgram
from tao_automl.brain.multifidelity.asha import ASHA, rung_levels
from tao_automl.brain.multifidelity.bohb import BOHB
from tao_automl.brain.multifidelity.dehb import DEHB
from tao_automl.brain.multifidelity.pbt import PBT
from tao_automl.brain.multifidelity.successive_halving import hyperband_brackets
from tao_automl.demo.digits_mlp import apply_overrides
from tao_automl.errors import UserInputError
from tao_automl.platforms.common import contained_path
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.platforms.retry import Retrying
from tao_automl.platforms.slurm.sdk import SlurmSDK
from tao_automl.space.grid import IntGridParam
from tao_automl.space.lists import ListParam, SubsetParam, element_from_json
from tao_automl.space.numeric import FloatParam, IntParam
from tao_automl.space.relations import Relation
from tao_automl.space.search_space import CategoricalParam, SearchSpace


def _allowed(call: Callable[[], Any]) -> Any:
    with pytest.raises(UserInputError) as info:
        call()
    data = info.value.to_json()
    assert data["allowed"] is not None, data
    return data["allowed"]


SPACE_CASES: dict[str, tuple[Callable[[], Any], Any]] = {
    "float low > high": (lambda: FloatParam("lr", 1.0, 0.1), "bounds with low <= high"),
    "float nan bound": (lambda: FloatParam("lr", float("nan"), 1.0), "a finite number (not nan or inf)"),
    "float log from 0": (lambda: FloatParam("lr", 0.0, 1.0, log=True), "low > 0 on a log scale"),
    "float log and logit": (lambda: FloatParam("p", 0.1, 0.5, log=True, logit=True),
                            "one of log=True or logit=True, not both"),
    "int float bound": (lambda: IntParam("n", 1.5, 4), "integer low and high"),  # type: ignore[arg-type]
    "grid without rule": (lambda: IntGridParam("bs", 1, 64),
                          "power_of (an integer >= 2) and/or multiple_of (an integer >= 1)"),
    "grid power 1": (lambda: IntGridParam("bs", 1, 64, power_of=1), "an integer >= 2"),
    "grid holds nothing": (lambda: IntGridParam("bs", 65, 100, power_of=2),
                           "a range holding at least one value that is a power of 2"),
    "list element type": (lambda: element_from_json({"type": "str", "name": "x"}), ["float", "int"]),
    "list value": (lambda: ListParam("w", (FloatParam("w0", 0.0, 1.0),)).encode([0.1, 0.2]),
                   "list of [0.0, 1.0] (float)"),
    "subset repeat": (lambda: SubsetParam("aug", ("flip", "flip")), "distinct options, each once"),
    "subset value": (lambda: SubsetParam("aug", ("flip", "crop")).encode(["blur"]),
                     "a list of distinct items of ['flip', 'crop']"),
    "categorical value": (lambda: CategoricalParam("act", ("relu", "gelu")).index("tanh"), ["relu", "gelu"]),
    "categorical weights": (lambda: CategoricalParam("act", ("relu", "gelu"), weights=(1.0,)),
                            "2 weights, one per option"),
    "relation op": (lambda: Relation("a", "=<", "b"), ["<", "<=", ">", ">="]),
    "relation on an unknown param": (
        lambda: SearchSpace((FloatParam("a", 0.0, 1.0),), relations=(Relation("a", "<", "b"),)), ["a"]),
    "param twice": (lambda: SearchSpace((FloatParam("a", 0.0, 1.0), FloatParam("a", 0.0, 2.0))),
                    "each param name once"),
    "unknown param type": (lambda: SearchSpace.from_json([{"type": "complex", "name": "z"}]), None),
}


@pytest.mark.parametrize("case", sorted(SPACE_CASES))
def test_a_bad_search_space_says_what_is_allowed(case: str) -> None:
    call, expected = SPACE_CASES[case]
    allowed = _allowed(call)
    if expected is not None:
        assert allowed == expected


SCHEMA: dict[str, Any] = {"properties": {"train": {"type": "object", "properties": {
    "lr": {"type": "number", "minimum": 0.0, "maximum": 1.0, "default": 0.1},
    "act": {"type": "string", "enum": ["relu", "gelu"], "default": "relu"},
}}}}


def _space(hyperparameters: Any = None, ranges: Any = None, schema: Any = SCHEMA) -> Any:
    from tao_automl.schema.build import build_search_space

    return build_search_space(schema, hyperparameters, ranges)


SCHEMA_CASES: dict[str, tuple[Callable[[], Any], Any]] = {
    "misspelt hyperparameter": (lambda: _space(["train.lrr"]), "'train.lr' or another searchable param of the "
                                "schema (`tao-automl models --scope automl`)"),
    "unknown hyperparameter": (lambda: _space(["zzz"]), ["train.lr", "train.act"]),
    "named twice": (lambda: _space(["train.lr", "train.lr"]), "each name once"),
    "hyperparameters a string": (lambda: _space("train.lr"), "a list of dotted param names of the train schema"),
    "unknown custom range": (lambda: _space(None, {"zzz": {"valid_min": 0.1}}), ["train.lr", "train.act"]),
    "custom range not a mapping": (lambda: _space(None, {"train.lr": 0.1}), None),
    "custom range unknown key": (lambda: _space(None, {"train.lr": {"min": 0.1}}), None),
    "custom scale": (lambda: _space(None, {"train.lr": {"scale": "exp"}}), ["log", "linear", "logit"]),
    "custom bound outside the schema": (lambda: _space(None, {"train.lr": {"valid_max": 2.0}}), "[0.0, 1.0]"),
    "custom min > max": (lambda: _space(None, {"train.lr": {"valid_min": 0.5, "valid_max": 0.2}}),
                         "valid_min <= valid_max"),
    "custom bound text": (lambda: _space(None, {"train.lr": {"valid_min": "x"}}), "a number"),
    "custom option unknown": (lambda: _space(None, {"train.act": {"valid_options": ["tanh"]}}), ["relu", "gelu"]),
    "custom disables all": (lambda: _space(None, {"train.act": {"disable_list": ["relu", "gelu"]}}),
                            "a disable_list that keeps at least one option"),
    "custom options twice": (lambda: _space(None, {"train.act": {"valid_options": ["relu", "relu"]}}),
                             "each option once"),
    "schema not an object": (lambda: _space(None, None, []), "a JSON object (a mapping)"),
}


@pytest.mark.parametrize("case", sorted(SCHEMA_CASES))
def test_a_bad_schema_range_says_what_is_allowed(case: str) -> None:
    call, expected = SCHEMA_CASES[case]
    allowed = _allowed(call)
    if expected is not None:
        assert allowed == expected


def _local(tmp_path: Any) -> LocalSDK:
    return LocalSDK(jobs_dir=tmp_path / "jobs")


PLATFORM_CASES: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "empty command": (lambda t: _local(t).create_job(None, "  ", gpu_count=0),
                      "a non-empty command string or a non-empty list of strings"),
    "command of numbers": (lambda t: _local(t).create_job(None, [1, 2], gpu_count=0),
                           "a non-empty command string or a non-empty list of strings"),
    "missing working_dir": (lambda t: _local(t).create_job(None, "true", gpu_count=0,
                                                           working_dir=str(t / "nowhere")),
                            "an existing directory (or None: the job's own folder)"),
    "env_vars key with '='": (lambda t: _local(t).create_job(None, "true", gpu_count=0, env_vars={"A=B": "1"}),
                              "non-empty names without '='"),
    "two nodes on one host": (lambda t: _local(t).create_job(None, "true", gpu_count=0, num_nodes=2), [1]),
    "empty job_name": (lambda t: _local(t).create_job(None, "true", gpu_count=0, job_name=" "),
                       "non-empty string"),
    "relative_path out of the results dir": (
        lambda t: contained_path(t, "../x"),
        "a path relative to the job's results dir that stays inside it (no '..' out, not absolute)"),
    "retry attempts 0": (lambda t: Retrying(_local(t), 0), "an integer >= 1"),
    "slurm host key checking off": (
        lambda t: SlurmSDK(state_dir=str(t / "state"), strict_host_key_checking="no"), ["yes", "accept-new"]),
}


@pytest.mark.parametrize("case", sorted(PLATFORM_CASES))
def test_a_bad_platform_argument_says_what_is_allowed(case: str, tmp_path: Any) -> None:
    call, expected = PLATFORM_CASES[case]
    assert _allowed(lambda: call(tmp_path)) == expected


ONE = SearchSpace((FloatParam("lr", 0.01, 0.1), CategoricalParam("act", ("relu", "gelu"))))

BRAIN_CASES: dict[str, tuple[Callable[[], Any], Any]] = {
    "bayesian xi": (lambda: BayesianBrain(ONE, xi=-1.0), "a finite number >= 0"),
    "bayesian n_candidates": (lambda: BayesianBrain(ONE, n_candidates=2), "an integer >= 16"),
    "bayesian observe a partial config": (lambda: BayesianBrain(ONE).observe({"lr": 0.05}, 1.0),
                                         "a config with a value for each of ['lr', 'act']"),
    "tpe gamma": (lambda: TPEBrain(ONE, gamma=1.5), "a number in (0, 1)"),
    "asha mode": (lambda: ASHA(ONE, mode="halving"), None),
    "asha reduction factor": (lambda: rung_levels(9, 1), "an integer >= 2"),
    "hyperband max epochs": (lambda: hyperband_brackets(0, 3), "an integer >= 1"),
    "bohb random fraction": (lambda: BOHB(ONE, random_fraction=2.0), "a number in [0, 1]"),
    "dehb crossover": (lambda: DEHB(ONE, crossover_rate=0.0), "a number in (0, 1]"),
    "pbt quantile": (lambda: PBT(ONE, quantile=0.9), "a number in (0, 0.5]"),
    "research program key": (lambda: ResearchProgram.from_value({"phases": [], "aim": "x"}), ["phases", "goal"]),
    "research program phases": (lambda: ResearchProgram.from_value({"phases": []}),
                                "a non-empty list of phase mappings"),
    "research program algorithm": (
        lambda: ResearchProgram.from_value({"phases": [{"algorithm": "annealing"}]}).validate(ONE, ["random"]),
        ["random"]),
    "research program param": (lambda: ResearchProgram.from_value(
        {"phases": [{"algorithm": "random", "params": ["wd"]}]}).validate(ONE, ["random"]), ["lr", "act"]),
    "research program budget": (lambda: ResearchProgram.from_value(
        {"phases": [{"algorithm": "random", "budget": 0}]}).validate(ONE, ["random"]),
        "a rec count >= 1 or a fraction in (0, 1]"),
}


@pytest.mark.parametrize("case", sorted(BRAIN_CASES))
def test_a_bad_brain_option_says_what_is_allowed(case: str) -> None:
    call, expected = BRAIN_CASES[case]
    allowed = _allowed(call)
    if expected is not None:
        assert allowed == expected


def _versions(tmp_path: Any, text: str) -> Any:
    from tao_automl.bank.versions import load_versions

    (tmp_path / "versions.yaml").write_text(text)
    return load_versions(tmp_path / "versions.yaml")


def _image_without_versions(tmp_path: Any) -> Any:
    from tao_automl.bank.image import resolve_image

    (tmp_path / "skill").mkdir()
    return resolve_image("tao.pytorch", tmp_path / "skill")


def _flag(text: str) -> Any:
    from tao_automl.llm.setup import _flag

    return _flag(None, "AUTOML_LLM_ANALYZER_ENABLED", {"AUTOML_LLM_ANALYZER_ENABLED": text})


def _models(scope: str) -> Any:
    from tao_automl.cli.bank_commands import models_report

    return models_report(None, scope)


def _spec(config_format: str, spec: Any) -> Any:
    from tao_automl.render.job import spec_text

    return spec_text(spec, config_format, "train")


OTHER_CASES: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "versions.yaml not YAML": (lambda t: _versions(t, "a: [1"), "a valid YAML mapping"),
    "versions.yaml a list": (lambda t: _versions(t, "- 1"), "a mapping (key: value) at the top level"),
    "image key without versions.yaml": (
        _image_without_versions, "an image URI, or a versions key of a versions.yaml in a folder above the skill"),
    "analyzer flag": (lambda t: _flag("maybe"), ["true", "false", "1", "0", "yes", "no", "on", "off"]),
    "models scope": (lambda t: _models("some"), ["automl", "all"]),
    "spec format": (lambda t: _spec("ini", {}), ["yaml", "json", "toml"]),
    "toml spec with a null": (lambda t: _spec("toml", {"a": [1, None]}),
                              "yaml or json for a spec with a null in a list (TOML has no null)"),
}


@pytest.mark.parametrize("case", sorted(OTHER_CASES))
def test_a_bad_bank_file_setting_or_argument_says_what_is_allowed(case: str, tmp_path: Any) -> None:
    call, expected = OTHER_CASES[case]
    assert _allowed(lambda: call(tmp_path)) == expected


def _demo_config(**changes: Any) -> Any:
    from tao_automl.demo.digits_mlp import TrainConfig, default_spec

    spec = apply_overrides({**default_spec(), "results_dir": "/tmp/out"}, [f"{k}={v}" for k, v in changes.items()])
    return TrainConfig.from_spec(spec)


def _demo_spec_file(tmp_path: Any, name: str, text: str) -> Any:
    from tao_automl.demo.digits_mlp import read_spec_file

    (tmp_path / name).write_text(text)
    return read_spec_file(tmp_path / name)


def _demo_arrays(tmp_path: Any) -> Any:
    from tao_automl.demo.digits_mlp import load_arrays

    np.savez(tmp_path / "d.npz", X=np.zeros((4, 2)), y=np.zeros(4))
    return load_arrays(str(tmp_path / "d.npz"))


DEMO_CASES: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "spec suffix": (lambda t: _demo_spec_file(t, "spec.txt", "a: 1"), [".yaml", ".yml", ".json"]),
    "spec a list": (lambda t: _demo_spec_file(t, "spec.yaml", "- 1"), "a mapping (key: value) at the top level"),
    "override without =": (lambda t: apply_overrides({}, ["train.num_epochs"]),
                           "key=value with a dotted key, e.g. train.num_epochs=5"),
    "epochs 0": (lambda t: _demo_config(**{"train.num_epochs": 0}), "an integer >= 1"),
    "activation": (lambda t: _demo_config(**{"model.activation": "elu"}), ["relu", "tanh", "sigmoid", "leaky_relu"]),
    "one class": (_demo_arrays, "a y with at least 2 classes"),
}


@pytest.mark.parametrize("case", sorted(DEMO_CASES))
def test_a_bad_demo_spec_says_what_is_allowed(case: str, tmp_path: Any) -> None:
    call, expected = DEMO_CASES[case]
    assert _allowed(lambda: call(tmp_path)) == expected


SRC = Path(__file__).resolve().parents[1] / "src" / "tao_automl"
#: The raise sites of user-input errors that may leave ``allowed`` out, one each, with why: (file under
#: src/tao_automl, the function raising it) -> reason. Keep it small: a new site says what is allowed.
WITHOUT_ALLOWED: dict[tuple[str, str], str] = {
    ("experiment/workspace.py", "new_run_dir"): "a name collision (a race): the input was fine; retry",
    ("experiment/workspace.py", "publish_run_dir"): "another process made the folder meanwhile: a race; retry",
    ("schema/lists.py", "build_list"): "an internal invariant (elements are never grids), not reachable by input",
    ("platforms/lepton/sdk.py", "submit"): "leptonai's own validation: its rule, quoted in the message, is its own",
}


def _base_name(node: ast.expr) -> str | None:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _user_error_classes(classes: list[ast.ClassDef]) -> set[str]:
    """UserInputError and every class under src/ deriving from it, less those whose ``__init__`` fills in
    ``allowed`` itself (MissingExtraError, WorkspaceLockedError)."""
    names = {"UserInputError"}
    while more := {c.name for c in classes if any(_base_name(b) in names for b in c.bases)} - names:
        names |= more
    return {c.name for c in classes if c.name in names and not any(
        isinstance(f, ast.FunctionDef) and f.name == "__init__" and "allowed" in ast.unparse(f) for f in c.body)}


def _sites_without_allowed() -> dict[tuple[str, str], list[int]]:
    """Calls of a user-input error class under src/ that pass no ``allowed=`` (nor ``**fields``), by file and
    innermost enclosing function."""
    trees = {str(p.relative_to(SRC)): ast.parse(p.read_text()) for p in sorted(SRC.rglob("*.py"))}
    classes = _user_error_classes([n for t in trees.values() for n in ast.walk(t) if isinstance(n, ast.ClassDef)])
    found: dict[tuple[str, str], list[int]] = {}

    def visit(rel: str, node: ast.AST, func: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Call) and _base_name(child.func) in classes and not any(
                    k.arg in ("allowed", None) for k in child.keywords):
                found.setdefault((rel, func), []).append(child.lineno)
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            visit(rel, child, inner)

    for rel, tree in trees.items():
        visit(rel, tree, "<module>")
    return found


def test_every_user_input_error_says_what_is_allowed() -> None:
    """A new raise of a user-input error without ``allowed=`` fails here: an agent reads ``allowed`` from the
    JSON to correct its input. Listed exceptions must still exist (the list stays honest)."""
    found = _sites_without_allowed()
    new = {f"{rel}:{lines[0]} in {func}()": lines for (rel, func), lines in found.items()
           if (rel, func) not in WITHOUT_ALLOWED or len(lines) > 1}  # a listed function holds its one site
    assert not new, f"user-input errors without allowed= (add what is accepted): {sorted(new)}"
    stale = set(WITHOUT_ALLOWED) - set(found)
    assert not stale, f"WITHOUT_ALLOWED lists sites that now say allowed (remove them): {sorted(stale)}"
