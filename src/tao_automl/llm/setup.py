"""From ``automl_settings`` to LLM brain options, and the endpoint preflight run before any rec."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tao_automl.errors import SettingsError
from tao_automl.llm.client import LLMClient, LLMConfig
from tao_automl.llm.prompts import Objective
from tao_automl.settings import AutoMLSettings, infer_direction

#: Algorithms that talk to an LLM (preflight + options); kept in sync with the brain registry.
LLM_ALGORITHMS = frozenset({"llm", "hybrid", "autoresearch"})
DEFAULT_ANALYZER_INTERVAL = 5
#: how a resume's failed endpoint check ends its message
NOT_RESUMED = "the run was not resumed and is as it was"

def client_for(settings: AutoMLSettings, env: Mapping[str, str] | None = None) -> LLMClient:
    return LLMClient(LLMConfig.resolve(settings.llm_endpoint, settings.llm_model, settings.llm_api_key,
                                       timeout_s=settings.llm_timeout_s, max_retries=settings.llm_max_retries,
                                       env=env))


def preflight(settings: AutoMLSettings, env: Mapping[str, str] | None = None, *, resuming: bool = False) -> None:
    """For LLM algorithms: stop now when endpoint, model or key is wrong (``LLMEndpointError``, exit 2) or the
    endpoint cannot be contacted at all (``PlatformUnreachableError``, exit 3). ``resuming``: the run has recs
    already, and the messages say it was left as it was."""
    if settings.algorithm not in LLM_ALGORITHMS:
        return
    client = client_for(settings, env)
    if resuming:
        client.preflight(NOT_RESUMED, "resume again, or resume with another llm_endpoint")
    else:
        client.preflight()


def _flag(value: bool | None, env_name: str, env: Mapping[str, str]) -> bool:
    if value is not None:
        return value
    text = env.get(env_name, "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{env_name}: {text!r} is not allowed; expected true/false", field=env_name, value=text,
                        allowed=["true", "false", "1", "0", "yes", "no", "on", "off"])


def analyzer_options(settings: AutoMLSettings, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``enabled``/``interval``/``narrow_ranges``: settings key first, then the ``AUTOML_LLM_ANALYZER_*`` env."""
    env = os.environ if env is None else env
    interval = settings.llm_analyzer_interval
    if interval is None:
        raw = env.get("AUTOML_LLM_ANALYZER_INTERVAL", "").strip()
        try:
            interval = int(raw) if raw else DEFAULT_ANALYZER_INTERVAL
        except ValueError:
            raise SettingsError(
                f"AUTOML_LLM_ANALYZER_INTERVAL: {raw!r} is not allowed; expected an integer >= 1",
                field="AUTOML_LLM_ANALYZER_INTERVAL", value=raw, allowed="an integer >= 1") from None
        if interval < 1:
            raise SettingsError(f"AUTOML_LLM_ANALYZER_INTERVAL: {raw!r} is not allowed; expected an integer >= 1",
                                field="AUTOML_LLM_ANALYZER_INTERVAL", value=raw, allowed="an integer >= 1")
    return {
        "enabled": _flag(settings.llm_analyzer_enabled, "AUTOML_LLM_ANALYZER_ENABLED", env),
        "interval": interval,
        "narrow_ranges": _flag(settings.llm_analyzer_narrow_ranges, "AUTOML_LLM_ANALYZER_NARROW_RANGES", env),
    }


def objective_for(settings: AutoMLSettings) -> Objective:
    """How the prompts show results: the metric under its own name and sign (LLM brains take one metric)."""
    direction = settings.direction or infer_direction(settings.metric, warn=False)
    return Objective(settings.metric, -1.0 if direction == "maximize" else 1.0)


def brain_options(settings: AutoMLSettings, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword options the ``llm``/``hybrid``/``autoresearch`` factories take."""
    return {
        "client": client_for(settings, env),
        "fallback": settings.llm_fallback,
        "budget": settings.automl_max_recommendations,
        "analyzer": analyzer_options(settings, env),
        "research_program": settings.research_program,
        "seed": settings.seed,
        "objective": objective_for(settings),
    }
