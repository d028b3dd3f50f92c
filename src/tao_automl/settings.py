"""``automl_settings``: defaults, validation and the one direction rule."""

from __future__ import annotations

import itertools
import logging
import numbers
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import Any

import numpy as np

from tao_automl.errors import SettingsError
from tao_automl.multiobjective.objectives import check_consistent, check_objectives, check_weights, expand_metric_list
from tao_automl.util.checks import INT64_MAX
from tao_automl.util.suggest import did_you_mean
from tao_automl.util.yaml_numbers import number_as_text_hint

log = logging.getLogger(__name__)

#: Words of a metric's name that mean "lower is better" (:func:`infer_direction`). "rate" is not one:
#: ``error_rate`` is minimised for "error", ``success_rate`` maximised.
LOWER_IS_BETTER_WORDS = (
    "loss", "losses", "error", "errors", "err", "wer", "cer", "mae", "mse", "rmse", "nll", "perplexity", "ppl",
    "latency", "time", "runtime", "duration", "fid", "distance", "dist", "regret", "epe", "ate",
)
#: Words of a metric's name that mean "higher is better": a name with none of these and no lower-is-better word is
#: still maximised, with a warning that names ``automl_settings.direction``.
HIGHER_IS_BETTER_WORDS = (
    "acc", "accuracy", "top1", "top5", "map", "ap", "ap50", "ap75", "auc", "roc", "f1", "fscore", "precision",
    "recall", "iou", "miou", "dice", "bleu", "rouge", "meteor", "cider", "psnr", "ssim", "r2", "score", "reward",
    "return", "hmean", "pq", "mota", "ndcg", "mrr", "hit", "hits", "success", "kappa", "mcc", "throughput", "fps",
)
#: Lower-is-better words that also count inside a word (``valloss``), being no part of a higher-is-better word.
JOINED_LOWER_IS_BETTER = ("loss", "error")
_NAME_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

#: The run's own keys (``RunArgs`` fields besides ``automl_settings``), named when one is put inside
#: ``automl_settings`` by mistake (a test keeps this list equal to ``RunArgs``' fields).
RUN_CONFIG_KEYS = frozenset({
    "skill_dir", "workspace_path", "platform", "platform_options", "action", "train_dataset_uri", "eval_dataset_uri",
    "base_checkpoint", "image", "dataset_keys", "automl_hyperparameters", "custom_param_ranges", "spec_overrides",
    "platform_kwargs", "wandb_config", "mlflow_config"})


def metric_words(metric: str) -> list[str]:
    """The words of a metric's name, lower-cased: split at every non-alphanumeric character, at camelCase and
    between letters and digits (``valLoss`` -> val, loss; ``val/RMSE_2`` -> val, rmse, 2)."""
    return [word.lower() for word in _NAME_WORD.findall(metric)]


def _lower_word(metric: str) -> tuple[str, bool] | None:
    """The lower-is-better word of the name and whether it is a whole word (``val_loss``) rather than part of one
    (``valloss``: only :data:`JOINED_LOWER_IS_BETTER` count there); None when there is none."""
    whole = next((w for w in metric_words(metric) if w in LOWER_IS_BETTER_WORDS), None)
    if whole is not None:
        return whole, True
    joined = next((part for part in JOINED_LOWER_IS_BETTER if part in metric.lower()), None)
    return (joined, False) if joined is not None else None


def _higher_word(metric: str) -> str | None:
    """The name's higher-is-better word (two joined words count too: ``f`` + ``1``), or None."""
    words = metric_words(metric)
    return next((w for w in words + [a + b for a, b in itertools.pairwise(words)] if w in HIGHER_IS_BETTER_WORDS),
                None)


def evident_direction(metric: str) -> tuple[str, str] | None:
    """``(direction, word)`` when a word of the name says which way is better (as :func:`infer_direction` reads
    it: a lower-is-better word, one inside a word, a higher-is-better word); ``None`` when no word says."""
    lower = _lower_word(metric)
    if lower is not None:
        return "minimize", lower[0]
    higher = _higher_word(metric)
    return ("maximize", higher) if higher is not None else None


def infer_direction(metric: str, *, warn: bool = True) -> str:
    """``minimize`` when a word of the name (:func:`metric_words`) is in :data:`LOWER_IS_BETTER_WORDS`, or the
    name contains one of :data:`JOINED_LOWER_IS_BETTER` anywhere (``valloss``), else ``maximize`` (other matches
    inside a word do not count: ``success_rate``, ``power``, ``uptime`` are maximised). A guess the name does not
    make plain is logged (:func:`direction_doubt`) unless ``warn`` is False (the caller reports it itself)."""
    doubt = direction_doubt(metric) if warn else None
    if doubt is not None:
        log.warning("%s", doubt)
    return "minimize" if _lower_word(metric) is not None else "maximize"


def direction_doubt(metric: str) -> str | None:
    """Why the direction :func:`infer_direction` reads from ``metric``'s name may be wrong, naming
    ``automl_settings.direction``; None when the name says it plainly (``val_loss``, ``accuracy``)."""
    lower = _lower_word(metric)
    if lower is not None:
        word, whole = lower
        if not whole:  # "valloss", "totalerror": unambiguous even inside a word
            return f"metric {metric!r} contains {word!r}: minimising it; set automl_settings.direction to override"
        if word not in ("loss", "losses"):
            return (f"metric {metric!r} looks like lower-is-better ({word!r}): minimising it; set "
                    "automl_settings.direction to override")
        return None
    if _higher_word(metric) is None:
        return (f"metric {metric!r}: no word of its name says which way is better; maximising it (set "
                "automl_settings.direction to minimize if lower is better)")
    return None


#: What an LLM brain does when the LLM fails mid-run (after retries).
LLM_FALLBACKS = ("error", "bayesian", "random")
FIDELITY_MODES = ("promotion", "stopping")
_TRUE, _FALSE = ("true", "yes"), ("false", "no")


class Direction(str, Enum):
    """Which way the metric is better."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    def __str__(self) -> str:
        return self.value


def _bad(name: str, value: Any, allowed: str, why: str = "") -> SettingsError:
    return SettingsError(f"automl_settings.{name}: {value!r} is not allowed; expected {allowed}{why}",
                         field=f"automl_settings.{name}", value=value, allowed=allowed)


def as_bool(name: str, value: Any) -> bool:
    """A real bool, or exactly true/false/yes/no (any case) — never truthiness."""
    if isinstance(value, bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise _bad(name, value, "true or false")


def as_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """An integer (numpy integers too, never a bool or a float) in ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        top = INT64_MAX if high is None else high  # `1e3` is text in a run config (YAML 1.1): the hint's spelling
        raise _bad(name, value, f"an integer >= {low}" if high is None else f"an integer {low}..{high}",
                   number_as_text_hint(value, integer=True, refuses=lambda n: "" if low <= n <= top else
                                       f"an integer {low}..{top}"))
    number = int(value)
    if number < low or (high is not None and number > high):
        raise _bad(name, number, f"an integer >= {low}" if high is None else f"an integer {low}..{high}")
    if number > INT64_MAX:  # the run's store holds 64-bit integers
        raise _bad(name, number, f"an integer {low}..{INT64_MAX} (64 bits)")
    return number


def as_seconds(name: str, value: Any) -> float:
    """A finite number of seconds in (0, 3600]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < float(value) <= 3600:
        raise _bad(name, value, "a number of seconds, 0 < s <= 3600",
                   number_as_text_hint(value, refuses=lambda s: "" if 0 < s <= 3600 else "0 < s <= 3600"))  # YAML 1.1
    return float(value)


def as_duration(name: str, value: Any) -> float:
    """A finite, positive number of seconds (no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < float(value) < float("inf"):
        raise _bad(name, value, "a number of seconds > 0",
                   number_as_text_hint(value, refuses=lambda s: "" if 0 < s < float("inf") else "> 0"))
    return float(value)


def as_minutes(name: str, value: Any) -> float:
    """A finite number of minutes in (0, 1440] (``status_interval_minutes``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < float(value) <= 1440:
        raise _bad(name, value, "a number of minutes, 0 < m <= 1440",
                   number_as_text_hint(value, refuses=lambda m: "" if 0 < m <= 1440 else "0 < m <= 1440"))
    return float(value)


def as_text(name: str, value: Any, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(name, value, "a non-empty string")
    if value != value.strip():  # " val_accuracy" would be stored and shown as given, never as the job's name
        raise _bad(name, value, f"a name without surrounding spaces ({value.strip()!r})")
    return value


#: The brain registry's names -> "module:factory" (``tao_automl.brain.registry`` imports each lazily; the factory is
#: called as factory(space, options)); kept here so that the settings check a name without importing a brain.
ALGORITHMS: dict[str, str] = {
    "bayesian": "tao_automl.brain.classic.bayesian:BayesianBrain",
    "random": "tao_automl.brain.classic.random_search:RandomBrain",
    "llm": "tao_automl.brain.llm.llm_brain:LLMBrain",
    "hybrid": "tao_automl.brain.llm.hybrid:HybridBrain",
    "autoresearch": "tao_automl.brain.llm.autoresearch:AutoResearchBrain",
    "asha": "tao_automl.brain.multifidelity.asha:ASHA",
    "hyperband": "tao_automl.brain.multifidelity.hyperband:Hyperband",
    "hyperband_es": "tao_automl.brain.multifidelity.hyperband:HyperbandES",
    "bohb": "tao_automl.brain.multifidelity.bohb:BOHB",
    "dehb": "tao_automl.brain.multifidelity.dehb:DEHB",
    "bfbo": "tao_automl.brain.multifidelity.bfbo:BFBO",
    "pbt": "tao_automl.brain.multifidelity.pbt:PBT",
    "tpe": "tao_automl.brain.classic.tpe:TPEBrain",
    "auto": "tao_automl.brain.auto:make_auto",
}


#: Names a user may expect that no brain answers to -> why (in place of a did-you-mean: ``grid`` is not ``hybrid``).
NOT_OFFERED: dict[str, str] = {
    "grid": " (grid search is not offered: 'random' samples the same space, 'bayesian' and 'tpe' search it)",
}


def check_algorithm(name: str) -> str:
    """Return the ``module:factory`` of ``name``; an unknown name lists the valid ones."""
    target = ALGORITHMS.get(name)
    if target is None:
        why = NOT_OFFERED.get(name) or did_you_mean(name, ALGORITHMS)
        raise SettingsError(
            f"automl_settings.algorithm: unknown algorithm {name!r}{why}; available: {', '.join(sorted(ALGORITHMS))}",
            field="automl_settings.algorithm", value=name, allowed=sorted(ALGORITHMS),
        )
    return target


def as_algorithm(name: str, value: Any) -> str:
    """``algorithm``: a name of the brain registry (a name it lacks, ``grid``, is refused here, before any run)."""
    as_text(name, value, optional=False)
    check_algorithm(value)
    return str(value)


def as_metric_name(name: str, value: Any) -> str:
    """``metric`` once a list is expanded: a name; another type is refused naming both forms it may take."""
    if not isinstance(value, str):
        raise _bad(name, value, "a metric name (a non-empty string), or a list of {name, direction} entries "
                                "(multi-objective)")
    text = as_text(name, value, optional=False)
    assert text is not None
    return text


def as_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise SettingsError(f"automl_settings.{name}: {value!r} is not allowed; expected one of "
                            f"{', '.join(choices)}{did_you_mean(str(value), choices)}",
                            field=f"automl_settings.{name}", value=value, allowed=list(choices))
    return value


#: Settings that were accepted once and are now refused, with the reason.
REFUSED = {
    "automl_max_experiments": "the budget of every brain, autoresearch included, is automl_max_recommendations; "
                              "set that instead",
}


@dataclass(frozen=True)
class AutoMLSettings:
    """Validated ``automl_settings``, plus our own keys ``seed``, ``poll_interval_s`` and
    ``fidelity_mode`` (multi-fidelity brains: ``promotion`` resumes promoted configs from their parent's
    checkpoint as new recs; ``stopping`` trains each config in one job and cancels it at a rung it loses),
    ``long_running_enabled`` (start detached, as ``run --detach``) and ``status_interval_minutes`` (how often
    the orchestrator writes ``status.json`` and a status log line)."""

    algorithm: str = "bayesian"
    metric: str = "loss"
    direction: str | None = None
    automl_max_recommendations: int = 10
    automl_max_epochs: int = 27
    automl_reduction_factor: int = 3
    automl_max_concurrent: int = 4
    automl_population_size: int = 10
    llm_endpoint: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_fallback: str = "error"
    llm_timeout_s: float = 300.0
    llm_max_retries: int = 2
    llm_analyzer_enabled: bool | None = None
    llm_analyzer_interval: int | None = None
    llm_analyzer_narrow_ranges: bool | None = None
    research_program: Any = None
    automl_delete_intermediate_ckpt: bool = False
    override_automl_disabled_params: bool = False
    seed: int = 0
    poll_interval_s: float = 5.0
    fidelity_mode: str = "promotion"
    auto_multifidelity: bool = False
    automl_job_timeout_s: float | None = None
    automl_fail_fast_after: int = 3
    long_running_enabled: bool = False
    status_interval_minutes: float = 5.0
    objectives: list[dict[str, str]] | None = None  # set from a list ``metric`` (multi-objective)
    metric_weights: dict[str, float] | None = None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> AutoMLSettings:
        if raw is not None and not isinstance(raw, Mapping):
            raise SettingsError(f"automl_settings: {raw!r} is not allowed; expected a mapping of setting -> value",
                                field="automl_settings", value=raw, allowed="a mapping of setting -> value")
        raw = dict(raw or {})
        valid = [f.name for f in fields(cls)]
        for key in raw:
            if key in REFUSED:
                raise SettingsError(f"automl_settings.{key}: {raw[key]!r} is not supported: {REFUSED[key]}",
                                    field=f"automl_settings.{key}", value=raw[key], allowed="no value")
            if key in RUN_CONFIG_KEYS:
                raise SettingsError(f"automl_settings: {key!r} is not a setting but a key of the run itself: put it "
                                    f"next to automl_settings (top level of the config file, or an argument of "
                                    f"run()), not inside it", field=f"automl_settings.{key}", value=key,
                                    allowed=valid)
            if key not in valid:
                raise SettingsError(f"automl_settings: unknown key {key!r}{did_you_mean(str(key), valid)}; "
                                    f"valid keys: {', '.join(valid)}", field=f"automl_settings.{key}", value=key,
                                    allowed=valid)
        settings = cls(**_typed(expand_metric_list(raw)))
        settings.validate()
        return settings

    def validate(self) -> None:
        """Check every field (a directly built instance too); raise :class:`SettingsError` naming the first bad one."""
        _typed(asdict(self))
        check_consistent(self.algorithm, self.metric, self.direction, self.objectives, self.metric_weights)
        if self.algorithm in ("llm", "autoresearch") and not isinstance(self.research_program, (str, type(None))):
            # these put the text in their prompts; a phase plan (or any other value) would be dropped unread
            raise SettingsError(
                f"automl_settings.research_program: {self.research_program!r} is not allowed with algorithm "
                f"{self.algorithm!r}; expected free-text directives (a string). A phase plan is run by algorithm "
                "'hybrid'", field="automl_settings.research_program", value=self.research_program,
                allowed="a string (free-text directives)")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data.get("llm_api_key"):
            data["llm_api_key"] = "***"
        return data


def _optional(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    return lambda name, value: None if value is None else check(name, value)


def _int_from(low: int, high: int | None = None) -> Callable[[str, Any], int]:
    return lambda name, value: as_int(name, value, low, high)


def _choice(choices: tuple[str, ...]) -> Callable[[str, Any], str]:
    return lambda name, value: as_choice(name, value, choices)


#: setting -> its check-and-convert (settings not listed take any value: ``research_program``).
_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "algorithm": as_algorithm,
    "metric": lambda name, value: as_metric_name(name, value),
    "direction": _optional(_choice(tuple(d.value for d in Direction))),
    "automl_max_recommendations": _int_from(1),
    "automl_max_epochs": _int_from(1),
    "automl_reduction_factor": _int_from(2),
    "automl_max_concurrent": _int_from(1),
    "automl_population_size": _int_from(1),
    "llm_endpoint": as_text,
    "llm_model": as_text,
    "llm_api_key": as_text,
    "llm_fallback": _choice(LLM_FALLBACKS),
    "llm_timeout_s": as_seconds,
    "llm_max_retries": _int_from(0, 10),
    "llm_analyzer_enabled": _optional(as_bool),
    "llm_analyzer_interval": _optional(_int_from(1)),
    "llm_analyzer_narrow_ranges": _optional(as_bool),
    "automl_delete_intermediate_ckpt": as_bool,
    "override_automl_disabled_params": as_bool,
    "seed": _int_from(0),
    "poll_interval_s": as_seconds,
    "fidelity_mode": _choice(FIDELITY_MODES),
    "auto_multifidelity": as_bool,
    "automl_job_timeout_s": _optional(as_duration),
    "automl_fail_fast_after": _int_from(0),
    "long_running_enabled": as_bool,
    "status_interval_minutes": as_minutes,
    "objectives": _optional(check_objectives),
    "metric_weights": _optional(check_weights),
}


def _typed(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with every value checked and converted to its field's type."""
    return {name: _CHECKS[name](name, value) if name in _CHECKS else value for name, value in raw.items()}
