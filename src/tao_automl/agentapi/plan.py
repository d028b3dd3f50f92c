"""``tao-automl plan "TEXT" --model NAME``: a sentence -> a run config, via the LLM's NL config generator.

The LLM (:class:`tao_automl.agentapi.nl_config.NLConfigGenerator`) chooses the algorithm, metric, budget,
concurrency and the parameters to search. The result is then checked exactly like a hand-written config
(:func:`tao_automl.cli.run_config.config_from_mapping`, preflight, the first rec of a dry run) plus two checks
on what the LLM chose: the metric must be one the model reports, and the budget must cover what the algorithm
needs before it does anything useful. Without an LLM endpoint it stops with one line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tao_automl.agentapi.goal import goal_repairs, goal_unstated
from tao_automl.errors import PlatformUnreachableError, SettingsError, SkillError
from tao_automl.util.suggest import did_you_mean


@dataclass
class Plan:
    """A validated run config made from a sentence, with how it differs from the model's defaults."""

    config: dict[str, Any]
    diff: list[str]
    reasoning: str = ""
    repairs: list[str] = field(default_factory=list)
    #: settings the LLM chose that the goal does not speak to (``key value``): its guesses, not the user's asks
    unstated: list[str] = field(default_factory=list)

    def yaml(self) -> str:
        return yaml.safe_dump(self.config, sort_keys=False)

    def to_json(self) -> dict[str, Any]:
        return {"config": self.config, "diff": self.diff, "reasoning": self.reasoning, "repairs": self.repairs,
                "unstated": self.unstated}


def resolve_model(name: str, skill_bank: str | None = None) -> str:
    """The ``skill_dir`` a config names ``name`` by: ``builtin:X``, a model folder, or a model of the bank."""
    from tao_automl.bank import builtin_models
    from tao_automl.bank.layout import BANK_ENV, models_dir

    if name.startswith("builtin:") or Path(name).expanduser().is_dir():
        return name
    bank = skill_bank or os.environ.get(BANK_ENV)
    if bank and (models_dir(Path(bank)) / name).is_dir():
        return str(models_dir(Path(bank)) / name)
    if name in builtin_models():
        return f"builtin:{name}"
    raise SkillError(f"--model: no model {name!r} (not a folder, not in the skill bank, not built in)",
                     field="model", value=name, allowed=builtin_models(),
                     hint="list the models with `tao-automl models --scope automl`")


def check_choices(settings: Mapping[str, Any], skill: Any, said: str = "", given: str | None = None) -> None:
    """The LLM's metric and budget: a budget too small is refused, and so is a metric refused by a run's rule, or one
    the model is not known to report unless the user named it (``given``: ``--metric``; or a metric-like token of
    ``said``, the goal): the LLM may not invent a metric name."""
    from tao_automl.metrics.parse import normalise_name
    from tao_automl.runner.plan import check_metric, known_metrics
    from tao_automl.runner.plan_notes import minimum_budget

    hint = "name one of the allowed metrics in the sentence, or pass --metric"
    metric = str(settings.get("metric", "loss"))
    check_metric(metric, skill, hint=hint)
    known = known_metrics(skill)
    # the user named it: --metric, or a metric-like token (val_acc, mAP50: not a plain word such as "accuracy")
    named = metric == given or (re.search(r"[^A-Za-z]|[a-z][A-Z]", metric) is not None and re.search(
        rf"(?<![\w/]){re.escape(metric)}(?![\w/])", said, re.IGNORECASE) is not None)
    if known and normalise_name(metric) not in {normalise_name(k) for k in known} and not named:
        raise SettingsError(f"automl_settings.metric: {metric!r} is not a metric {skill.name} is known to report, and "
                            f"the goal does not name it{did_you_mean(metric, known)}; allowed: {', '.join(known)}",
                            field="automl_settings.metric", value=metric, allowed=known, hint=hint)
    need = minimum_budget(settings)
    budget = int(settings.get("automl_max_recommendations", 0))
    if need is not None and budget < need[0]:
        raise SettingsError(f"automl_settings.automl_max_recommendations: {budget} is below what "
                            f"{settings.get('algorithm')} needs: {need[1]}",
                            field="automl_settings.automl_max_recommendations", value=budget,
                            allowed=f"an integer >= {need[0]}",
                            hint="ask for more trials, or another algorithm (random, bayesian, tpe)")


def check_given_values(skill: Any, root: Path, *, metric: str | None, platform: str, workspace_path: str,
                       datasets: Mapping[str, str | None]) -> None:
    """What the caller gave that needs no LLM answer, checked as the plan's config will be, before the LLM is asked:
    the metric against the model's (``check_metric``: a given metric is the config's whatever the answer), the
    workspace and each dataset (``datasets``: config key -> URI), relative paths read against ``root``."""
    from tao_automl.runner.plan import check_metric
    from tao_automl.runner.preflight import dataset_check, workspace_check
    from tao_automl.runner.run_args import absolute_path

    if metric is not None:
        check_metric(metric, skill, hint="pass a --metric the model reports (see allowed), or leave it out for the "
                                         "LLM to choose one")
    failed = workspace_check(absolute_path(workspace_path, root)).error
    if failed is not None:
        raise failed
    for key, uri in datasets.items():
        failed = dataset_check(platform, key, absolute_path(uri, root) if uri else uri).error
        if failed is not None:  # its own hint names a config to preflight: there is none yet
            raise failed.rebuilt(str(failed.detail), hint="give a path that exists here, a remote URI or "
                                                           "builtin:<name>; nothing was asked or written")


def default_diff(config: Mapping[str, Any], space_names: list[str]) -> list[str]:
    """How ``config`` differs from running the model with every default: settings changed, params searched."""
    from tao_automl.settings import AutoMLSettings

    defaults = AutoMLSettings().to_dict()
    lines = []
    for key, value in (config.get("automl_settings") or {}).items():
        if defaults.get(key) != value:
            lines.append(f"automl_settings.{key}: {defaults.get(key)!r} -> {value!r}")
    searched = config.get("automl_hyperparameters")
    if searched is not None and list(searched) != list(space_names):
        kept = [n for n in space_names if n not in searched]
        lines.append(f"automl_hyperparameters: {len(searched)} of {len(space_names)} default params searched; "
                     f"left at their default value: {', '.join(kept) or 'none'}")
    return lines


def validate(config: Mapping[str, Any], base: Path) -> None:
    """Check ``config`` exactly as ``tao-automl run CONFIG --dry-run`` would (config, preflight, first rec)."""
    from tao_automl.cli.dry_run import dry_run
    from tao_automl.cli.run_config import config_from_mapping

    dry_run(config_from_mapping(dict(config), base), 1)


def make_plan(goal: str, model: str, *, llm_endpoint: str | None = None, llm_model: str | None = None,
              metric: str | None = None, platform: str = "local", workspace_path: str = "runs",
              train_dataset_uri: str | None = None, gpu_count: int | None = None, skill_bank: str | None = None,
              base: Path | None = None, llm_timeout_s: float = 600.0, eval_dataset_uri: str | None = None,
              dataset_keys: Mapping[str, str] | None = None) -> Plan:
    """Ask the LLM for a run config for ``goal`` on ``model`` and validate it; nothing is written or started."""
    from tao_automl.agentapi.nl_config import NLConfigGenerator
    from tao_automl.bank.skill import load_skill
    from tao_automl.cli.run_config import resolve_skill_dir
    from tao_automl.llm.client import LLMClient, LLMConfig, LLMEndpointError, LLMFailure
    from tao_automl.runner.plan import job_baseline, known_metrics, load_settings, search_space

    root = base or Path.cwd()
    skill_dir = resolve_model(model, skill_bank)  # a wrong model is named first: no endpoint would make it right
    skill = load_skill(resolve_skill_dir(skill_dir, root))
    datasets = {"train_dataset_uri": train_dataset_uri, "eval_dataset_uri": eval_dataset_uri,
                **{f"dataset_keys.{key}": uri for key, uri in (dataset_keys or {}).items()}}
    # before the LLM is asked (42 s with a local model): these need no answer to be checked
    check_given_values(skill, root, metric=metric, platform=platform, workspace_path=workspace_path,
                       datasets=datasets)
    try:
        llm = LLMConfig.resolve(llm_endpoint, llm_model, None, timeout_s=llm_timeout_s, max_retries=1)
    except SettingsError as exc:
        if exc.value is not None:  # given, but not a URL: name it as this command takes it
            field = "--llm-endpoint" if llm_endpoint else str(exc.field)
            raise SettingsError(f"{field}: {exc.value!r} is not allowed; expected an http(s) URL", field=field,
                                value=exc.value, allowed=exc.allowed,
                                hint=f"give {field} as a URL with its scheme, e.g. http://localhost:8000/v1") from None
        what = "model" if (exc.field or "").endswith("llm_model") else "endpoint"
        allowed = ("--llm-model NAME (or AUTOML_LLM_MODEL): a model the endpoint serves" if what == "model" else
                   "--llm-endpoint URL (or AUTOML_LLM_ENDPOINT): an OpenAI-compatible http(s) endpoint")
        # named as this command takes it (it has no automl_settings)
        raise LLMEndpointError(f"no LLM {what}: set AUTOML_LLM_ENDPOINT and AUTOML_LLM_MODEL, or pass --llm-endpoint "
                               "and --llm-model", field=f"--llm-{what}", value=None, allowed=allowed,
                               hint="or write the run config by hand (`tao-automl skill --text` shows one)") from None
    space = search_space(skill.schema, load_settings({}), None, None, job_baseline(skill, {}))  # as the run builds it
    metrics = known_metrics(skill)
    sentence = goal + (f"\nMetrics the model reports: {', '.join(metrics)}" if metrics else "")
    client = LLMClient(llm)
    try:  # a wrong model or key is exit 2 naming it, an endpoint that does not answer exit 3 (as run checks them)
        client.preflight("nothing was written")
    except PlatformUnreachableError as exc:
        raise PlatformUnreachableError(
            str(exc.detail), field="llm_endpoint",
            value=llm.endpoint, allowed="an OpenAI-compatible endpoint that answers from here",
            hint="start the LLM server (or check the network to it) and retry, or pass another --llm-endpoint; or "
                 "write the config by hand (`tao-automl skill --text` shows one)") from None
    except LLMEndpointError as exc:  # named as this command takes them
        field = {"automl_settings.llm_model": "--llm-model", "automl_settings.llm_endpoint": "--llm-endpoint",
                 "automl_settings.llm_api_key": "AUTOML_LLM_API_KEY"}.get(str(exc.field), exc.field or "--llm-model")
        raise LLMEndpointError(str(exc.detail),
                               field=field, value=exc.value, allowed=exc.allowed,
                               hint="pass --llm-model with a model the endpoint serves (and the key it takes in "
                                    "AUTOML_LLM_API_KEY); or write the config by hand") from None
    try:
        nl = NLConfigGenerator(client).generate(sentence, space, metric=metric)
    except LLMFailure as exc:
        cause = exc.__cause__
        if isinstance(cause, Exception) and LLMClient.unreachable(cause):  # nothing answered: exit 3, retry later
            raise PlatformUnreachableError(
                exc.detail, field="llm_endpoint", value=llm.endpoint,
                allowed="an OpenAI-compatible endpoint that answers from here",
                hint="start the LLM server (or check the network to it) and retry, or pass another --llm-endpoint; "
                     "or write the config by hand (`tao-automl skill --text` shows one)") from None
        raise LLMFailure(exc.detail, field="llm", value=llm.endpoint,
                         hint="retry; a slow endpoint needs a larger --llm-timeout, or write the config by hand "
                              "(`tao-automl skill --text` shows one)") from None
    settings = {k: v for k, v in nl.settings.items() if v is not None}
    repairs = list(nl.repairs)
    repairs += goal_repairs(goal, settings, skill, metrics, given_metric=metric, endpoint=llm.endpoint,
                            model=llm.model)
    check_choices(settings, skill, said=goal, given=metric)
    config: dict[str, Any] = {"platform": platform, "skill_dir": skill_dir, "workspace_path": workspace_path}
    if train_dataset_uri:
        config["train_dataset_uri"] = train_dataset_uri
    if eval_dataset_uri:
        config["eval_dataset_uri"] = eval_dataset_uri
    if dataset_keys:
        config["dataset_keys"] = dict(dataset_keys)
    config["automl_settings"] = settings
    config["automl_hyperparameters"] = list(nl.automl_hyperparameters)
    if gpu_count is not None:
        config["platform_kwargs"] = {"gpu_count": gpu_count}
    validate(config, root)
    unstated = goal_unstated(goal, settings, metrics, given_metric=metric)
    return Plan(config, default_diff(config, space.names), nl.reasoning, repairs, unstated)
