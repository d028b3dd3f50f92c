"""``automl_settings``: defaults, validation and the one direction rule."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from tao_automl.errors import SettingsError
from tao_automl.util.suggest import did_you_mean

log = logging.getLogger(__name__)

#: Metric names that mean "lower is better" although they do not contain "loss".
LOWER_IS_BETTER_WORDS = (
    "loss", "error", "err", "latency", "time", "wer", "cer", "mae", "mse", "rmse", "perplexity", "ppl",
    "fid", "distance", "regret", "nll", "epe", "ate",
)


def infer_direction(metric: str) -> str:
    """``minimize`` for loss/error-like names, else ``maximize`` (SPEC §3)."""
    lowered = metric.lower().replace("/", "_").replace("-", "_")
    if "loss" in lowered:
        return "minimize"
    tokens = set(lowered.split("_"))
    for word in LOWER_IS_BETTER_WORDS:
        if word in tokens or lowered.endswith(word):
            log.warning(
                "metric %r looks like lower-is-better (%r): minimising it; set automl_settings.direction "
                "to override", metric, word,
            )
            return "minimize"
    return "maximize"


#: What an LLM brain does when the LLM fails mid-run (after retries).
LLM_FALLBACKS = ("error", "bayesian", "random")


@dataclass(frozen=True)
class AutoMLSettings:
    """Validated ``automl_settings`` (SPEC §3), plus our own keys ``seed``, ``poll_interval_s`` and
    ``fidelity_mode`` (multi-fidelity brains: ``promotion`` resumes promoted configs from their parent's
    checkpoint as new recs; ``stopping`` trains each config in one job and cancels it at a rung it loses)."""

    algorithm: str = "bayesian"
    metric: str = "loss"
    direction: str | None = None
    automl_max_recommendations: int = 20
    automl_max_epochs: int = 27
    automl_reduction_factor: int = 3
    automl_max_concurrent: int = 4
    automl_population_size: int = 10
    automl_max_experiments: int = 50
    llm_endpoint: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_fallback: str = "error"
    llm_timeout_s: float = 60.0
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

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> AutoMLSettings:
        raw = dict(raw or {})
        valid = [f.name for f in fields(cls)]
        for key in raw:
            if key not in valid:
                raise SettingsError(
                    f"automl_settings: unknown key {key!r}{did_you_mean(key, valid)}; valid keys: {', '.join(valid)}"
                )
        settings = cls(**raw)
        settings.validate()
        return settings

    def validate(self) -> None:
        for name in ("automl_max_recommendations", "automl_max_epochs", "automl_max_concurrent",
                     "automl_population_size", "automl_max_experiments"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SettingsError(f"automl_settings.{name}: {value!r} is not allowed; expected an integer >= 1")
        if not isinstance(self.automl_reduction_factor, int) or self.automl_reduction_factor < 2:
            raise SettingsError(
                f"automl_settings.automl_reduction_factor: {self.automl_reduction_factor!r} is not allowed; "
                "expected an integer >= 2"
            )
        if self.direction not in (None, "minimize", "maximize"):
            raise SettingsError(
                f"automl_settings.direction: {self.direction!r} is not allowed; expected 'minimize' or 'maximize'"
            )
        if not isinstance(self.metric, str) or not self.metric:
            raise SettingsError(f"automl_settings.metric: {self.metric!r} is not allowed; expected a metric name")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise SettingsError(f"automl_settings.seed: {self.seed!r} is not allowed; expected an integer >= 0")
        if self.fidelity_mode not in ("promotion", "stopping"):
            raise SettingsError(
                f"automl_settings.fidelity_mode: {self.fidelity_mode!r} is not allowed; "
                "expected 'promotion' or 'stopping'"
            )
        if not isinstance(self.poll_interval_s, (int, float)) or not 0 < self.poll_interval_s <= 3600:
            raise SettingsError(
                f"automl_settings.poll_interval_s: {self.poll_interval_s!r} is not allowed; expected 0 < s <= 3600"
            )

        self._validate_llm()

    def _validate_llm(self) -> None:
        if self.llm_fallback not in LLM_FALLBACKS:
            raise SettingsError(f"automl_settings.llm_fallback: {self.llm_fallback!r} is not allowed; expected one of "
                                f"{', '.join(LLM_FALLBACKS)}{did_you_mean(str(self.llm_fallback), LLM_FALLBACKS)}")
        if isinstance(self.llm_timeout_s, bool) or not isinstance(self.llm_timeout_s, (int, float)) \
                or not 0 < self.llm_timeout_s <= 3600:
            raise SettingsError(f"automl_settings.llm_timeout_s: {self.llm_timeout_s!r} is not allowed; "
                                "expected 0 < s <= 3600")
        if isinstance(self.llm_max_retries, bool) or not isinstance(self.llm_max_retries, int) \
                or not 0 <= self.llm_max_retries <= 10:
            raise SettingsError(f"automl_settings.llm_max_retries: {self.llm_max_retries!r} is not allowed; "
                                "expected an integer 0..10")
        for name in ("llm_analyzer_enabled", "llm_analyzer_narrow_ranges"):
            if getattr(self, name) not in (None, True, False):
                raise SettingsError(f"automl_settings.{name}: {getattr(self, name)!r} is not allowed; "
                                    "expected true or false")
        interval = self.llm_analyzer_interval
        if interval is not None and (isinstance(interval, bool) or not isinstance(interval, int) or interval < 1):
            raise SettingsError(f"automl_settings.llm_analyzer_interval: {interval!r} is not allowed; "
                                "expected an integer >= 1")

    @property
    def resolved_direction(self) -> str:
        return self.direction or infer_direction(self.metric)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data.get("llm_api_key"):
            data["llm_api_key"] = "***"
        return data
