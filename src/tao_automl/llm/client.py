"""OpenAI-compatible chat client: endpoint resolution, preflight, JSON answers and token usage.

Resolution order: settings key -> ``AUTOML_LLM_ENDPOINT`` / ``AUTOML_LLM_MODEL`` /
``AUTOML_LLM_API_KEY`` -> ``NVIDIA_API_KEY`` (key only). :meth:`LLMClient.preflight` runs before the
first rec and raises :class:`LLMEndpointError` naming endpoint and model when either, or the key,
is wrong, and :class:`tao_automl.errors.PlatformUnreachableError` (exit 3) when the endpoint cannot be
contacted at all; a 404 from a base URL without ``/v1`` cannot happen because :func:`normalise_endpoint`
adds it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tao_automl.errors import (
    EXIT_PLATFORM_UNREACHABLE,
    PlatformUnreachableError,
    SettingsError,
    TaoAutoMLError,
    UserInputError,
    require_extra,
)
from tao_automl.util.reach import unreachable_error
from tao_automl.util.secrets import REDACTED
from tao_automl.util.suggest import did_you_mean

DEFAULT_TIMEOUT_S = 300.0  # generous: a slow endpoint answers late rather than making every call fall back
DEFAULT_MAX_RETRIES = 2
_SUFFIXES = ("/chat/completions", "/completions", "/models")


log = logging.getLogger(__name__)

#: Answers that do not parse as a JSON object are asked for again up to this many times in all.
PARSE_ATTEMPTS = 3

class LLMEndpointError(UserInputError):
    """The LLM endpoint, model or key does not work (found before the first rec)."""

    kind = "llm_endpoint"
    default_hint = "check llm_endpoint, llm_model and llm_api_key, or use a non-LLM algorithm"


class LLMFailure(TaoAutoMLError):
    """An LLM call failed mid-run after its retries, or never produced a usable answer."""

    kind = "llm_failure"
    default_hint = "resume the run; set llm_fallback: bayesian to go on without the LLM"


class LLMUnreachable(LLMFailure):
    """The LLM endpoint could not be contacted mid-run (refused, timed out, a gateway saying it is down) and the run
    stops (``llm_fallback: error``): exit 3, retry later, as for an unreachable platform."""

    kind = "platform_unreachable"
    exit_code = EXIT_PLATFORM_UNREACHABLE
    default_hint = ("start the LLM endpoint (or, when it answers too slowly, raise llm_timeout_s), then `tao-automl "
                    "resume RUN_DIR`; a new llm_endpoint, llm_model, llm_timeout_s or llm_max_retries is given from "
                    "Python: AutoMLRunner(...).run(workspace_path=RUN_DIR, resume=True, "
                    "automl_settings={'llm_timeout_s': 120})")


def normalise_endpoint(url: str, field: str = "automl_settings.llm_endpoint") -> str:
    """``http://h:p``, ``http://h:p/``, ``.../v1/chat/completions`` -> ``http://h:p/v1``; ``field``: where the URL
    was given (named by the error for one that is not an http(s) URL)."""
    base = url.strip().rstrip("/")
    for suffix in _SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)].rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise SettingsError(f"{field}: {url!r} is not allowed; expected an http(s) URL", field=field, value=url,
                            allowed="an http(s) URL, e.g. http://localhost:8000/v1")
    parts = base.split("/")
    if not any(p.startswith("v") and p[1:].isdigit() for p in parts[3:]):
        base += "/v1"
    return base


@dataclass(frozen=True)
class LLMConfig:
    """Where and how to reach the model."""

    endpoint: str
    model: str
    api_key: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_retries: int = DEFAULT_MAX_RETRIES
    #: where the key came from (a settings key or an environment variable), named when it is refused
    key_source: str | None = None

    @classmethod
    def resolve(cls, endpoint: str | None, model: str | None, api_key: str | None, *,
                timeout_s: float = DEFAULT_TIMEOUT_S, max_retries: int = DEFAULT_MAX_RETRIES,
                env: Mapping[str, str] | None = None) -> LLMConfig:
        """Apply the settings -> environment precedence; a missing endpoint or model is a settings error."""
        env = os.environ if env is None else env
        where = "automl_settings.llm_endpoint" if endpoint else "AUTOML_LLM_ENDPOINT"
        endpoint = endpoint or env.get("AUTOML_LLM_ENDPOINT")
        model = model or env.get("AUTOML_LLM_MODEL")
        key_source = next((name for name, value in (("automl_settings.llm_api_key", api_key),
                                                    ("AUTOML_LLM_API_KEY", env.get("AUTOML_LLM_API_KEY")),
                                                    ("NVIDIA_API_KEY", env.get("NVIDIA_API_KEY"))) if value), None)
        key = api_key or env.get("AUTOML_LLM_API_KEY") or env.get("NVIDIA_API_KEY")
        if not endpoint:
            raise SettingsError("automl_settings.llm_endpoint: not set (nor AUTOML_LLM_ENDPOINT); "
                                "expected the URL of an OpenAI-compatible endpoint",
                                field="automl_settings.llm_endpoint", value=None,
                                allowed="the URL of an OpenAI-compatible endpoint")
        if not model:
            raise SettingsError("automl_settings.llm_model: not set (nor AUTOML_LLM_MODEL); "
                                "expected the model name the endpoint serves", field="automl_settings.llm_model",
                                value=None, allowed="the model name the endpoint serves")
        return cls(normalise_endpoint(endpoint, where), model, key or None, float(timeout_s), int(max_retries),
                   key_source)


@dataclass
class LLMReply:
    """One answer: raw text, the parsed JSON object (``None`` if unparseable) and token usage."""

    text: str
    data: dict[str, Any] | None
    usage: dict[str, Any]


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (code fences and chatter around it are ignored)."""
    start = text.find("{")
    while start != -1:
        depth = 0
        in_str = False
        escaped = False
        for i in range(start, len(text)):
            ch = text[i]
            if in_str:
                escaped = (ch == "\\") and not escaped
                if ch == '"' and not escaped:
                    in_str = False
                continue
            if ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    try:
                        value = json.loads(text[start : i + 1])
                    except ValueError:
                        break
                    return value if isinstance(value, dict) else None
        start = text.find("{", start + 1)
    return None


def _openai() -> Any:
    return require_extra("openai", "llm",
                         "LLM-guided search (algorithms llm, hybrid and autoresearch; `tao-automl plan`)")


class LLMClient:
    """A thin, typed wrapper over ``openai.OpenAI`` for JSON-schema constrained chat answers."""

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self.structured = True  # JSON-schema output; switched off when the server rejects it
        self._client: Any = None

    def _api(self, max_retries: int | None = None) -> Any:
        openai = _openai()
        retries = self.config.max_retries if max_retries is None else max_retries
        if max_retries is None and self._client is not None:
            return self._client
        client = openai.OpenAI(base_url=self.config.endpoint, api_key=self.config.api_key or "none",
                               timeout=self.config.timeout_s, max_retries=retries)
        if max_retries is None:
            self._client = client
        return client

    def _where(self) -> str:
        return f"LLM endpoint {self.config.endpoint} (model {self.config.model!r})"

    def explain(self, exc: Exception) -> str:
        """A one-line reason for an ``openai`` error, naming endpoint and model."""
        openai = _openai()
        if isinstance(exc, openai.NotFoundError):
            return f"{self._where()}: not found (HTTP 404); check the URL (it should end in /v1) and the model name"
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            if self.config.api_key is None:
                return (f"{self._where()}: the endpoint wants an API key (HTTP {exc.status_code}) and none is set; "
                        "set automl_settings.llm_api_key, AUTOML_LLM_API_KEY or NVIDIA_API_KEY")
            return (f"{self._where()}: the API key was rejected (HTTP {exc.status_code}; the key came from "
                    f"{self.config.key_source or 'the settings'}); set automl_settings.llm_api_key, AUTOML_LLM_API_KEY "
                    "or NVIDIA_API_KEY")
        if isinstance(exc, openai.APITimeoutError):
            return (f"{self._where()}: timed out: no answer within {self.config.timeout_s:g} s; raise "
                    "automl_settings.llm_timeout_s for a slow endpoint")
        if isinstance(exc, openai.APIConnectionError):
            return f"{self._where()}: cannot connect ({exc.__cause__ or exc}); is the server running?"
        if isinstance(exc, openai.APIStatusError):
            return f"{self._where()}: HTTP {exc.status_code}: {str(exc)[:200]}"
        return f"{self._where()}: {type(exc).__name__}: {exc}"

    def preflight(self, outcome: str = "stopped before the first rec",
                  retry: str = "retry, or fix llm_endpoint; nothing was started") -> None:
        """Check endpoint, model and key with a model listing and a one-token answer. ``outcome`` ends each
        message (what the failed check left as it was), ``retry`` the unreachable endpoint's hint."""
        api = self._api(max_retries=min(self.config.max_retries, 1))
        try:
            listed = api.models.list().data
            names: list[str] = []
            for item in listed:
                names.append(str(item.id))
                names.extend(str(a) for a in (getattr(item, "aliases", None) or []))
            if names and self.config.model not in names:
                raise LLMEndpointError(
                    f"{self._where()}: the endpoint does not serve model {self.config.model!r}"
                    f"{did_you_mean(self.config.model, names)}; available: {', '.join(sorted(set(names))[:10])}",
                    field="automl_settings.llm_model", value=self.config.model, allowed=sorted(set(names)),
                )
            api.chat.completions.create(model=self.config.model, max_tokens=1,
                                        messages=[{"role": "user", "content": "Say OK."}])
        except LLMEndpointError:
            raise
        except Exception as exc:
            if self.unreachable(exc):  # no answer at all: retrying later may work; the settings may be right
                raise PlatformUnreachableError(
                    f"{self.explain(exc)}; {outcome}", field="automl_settings.llm_endpoint",
                    value=self.config.endpoint, allowed="an OpenAI-compatible endpoint that answers from here",
                    hint=f"start the LLM server (or check the network to it) and {retry}") from exc
            openai = _openai()
            if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
                raise LLMEndpointError(
                    f"{self.explain(exc)}; {outcome}", field=self.config.key_source or "automl_settings.llm_api_key",
                    value=None if self.config.api_key is None else REDACTED, allowed="an API key the endpoint accepts"
                ) from exc
            if isinstance(exc, openai.APIError):
                raise LLMEndpointError(f"{self.explain(exc)}; {outcome}",
                                       allowed="an llm_base_url (ending in /v1) and llm_model the endpoint serves"
                                       ) from exc
            # it answered, but not as the OpenAI API does (a gateway's HTML page: the client fails on the body)
            raise LLMEndpointError(
                f"{self._where()}: the endpoint answered, but not as an OpenAI-compatible API ({type(exc).__name__}: "
                f"{exc}); {outcome}", field="automl_settings.llm_endpoint",
                value=self.config.endpoint, allowed="an OpenAI-compatible endpoint (its base URL, e.g. ending in /v1)",
                hint="check llm_endpoint: it should be the API's base URL, not a web page or a proxy's login page"
            ) from exc

    @staticmethod
    def timed_out(exc: Exception) -> bool:
        """True when the endpoint took longer than ``llm_timeout_s`` to answer (it may be up but slow)."""
        return isinstance(exc, _openai().APITimeoutError)

    @staticmethod
    def unreachable(exc: Exception) -> bool:
        """True when the endpoint could not be contacted at all (refused, timed out, unknown host), or a gateway in
        front of it says the server behind it is down (HTTP 502/503/504); False when it answered and refused."""
        openai = _openai()
        if isinstance(exc, openai.APIConnectionError):  # APITimeoutError included
            return True
        if isinstance(exc, openai.APIStatusError):
            return exc.status_code in (502, 503, 504)
        return unreachable_error(exc)

    def ask_json(self, system: str, user: str, schema: Mapping[str, Any], *, max_tokens: int = 200,
                 temperature: float = 0.7, seed: int | None = None) -> LLMReply:
        """Ask for one JSON object matching ``schema``. API failures (after retries) raise :class:`LLMFailure`.

        An answer that does not parse (small models can run out of tokens inside grammar-allowed whitespace)
        is asked again, up to :data:`PARSE_ATTEMPTS` times with another seed; ``usage["reasks"]`` counts them, and its
        tokens and seconds are those of every answer asked for.
        """
        reply = self._ask_json_once(system, user, schema, max_tokens, temperature, seed)
        for attempt in range(1, PARSE_ATTEMPTS):
            if reply.data is not None:
                break
            log.info("LLM answer was not a JSON object (%r...); asking again", reply.text[:60])
            again = self._ask_json_once(system, user, schema, max_tokens, min(1.0, temperature + 0.2),
                                        (seed or 0) + attempt)
            for key in ("prompt_tokens", "completion_tokens", "seconds"):
                before, now = reply.usage.get(key), again.usage.get(key)
                if isinstance(before, (int, float)) and isinstance(now, (int, float)):
                    again.usage[key] = round(before + now, 3) if key == "seconds" else before + now
            again.usage["reasks"] = attempt
            reply = again
        return reply

    def _ask_json_once(self, system: str, user: str, schema: Mapping[str, Any], max_tokens: int,
                       temperature: float, seed: int | None) -> LLMReply:
        openai = _openai()
        api = self._api()
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        kwargs: dict[str, Any] = {"model": self.config.model, "messages": messages, "max_tokens": max_tokens,
                                  "temperature": temperature}
        if seed is not None:
            kwargs["seed"] = seed
        t0 = time.monotonic()
        try:
            if self.structured:
                try:
                    fmt = {"type": "json_schema",
                           "json_schema": {"name": "answer", "schema": dict(schema), "strict": True}}
                    response = api.chat.completions.create(**kwargs, response_format=fmt)
                except openai.BadRequestError:
                    # refused without the schema too (a prompt over the context size, say): that 400 was not about
                    # JSON-schema output, which is kept for the next calls
                    response = api.chat.completions.create(**kwargs)
                    self.structured = False  # the server has no JSON-schema output: parse free text instead
            else:
                response = api.chat.completions.create(**kwargs)
        except openai.APIError as exc:
            raise LLMFailure(self.explain(exc)) from exc
        try:  # an endpoint that answers something else (an HTML error page, a bare string) is a failed call
            choices = response.choices
            text = str((choices[0].message.content or "") if choices else "")
        except (AttributeError, IndexError, TypeError) as exc:
            shown = str(response)[:120].replace("\n", " ")
            raise LLMFailure(f"the LLM endpoint {self.config.endpoint} answered something that is not a chat "
                             f"completion ({type(response).__name__}: {shown!r})") from exc
        usage = getattr(response, "usage", None)
        record = {
            "prompt_tokens": getattr(usage, "prompt_tokens", None),
            "completion_tokens": getattr(usage, "completion_tokens", None),
            "seconds": round(time.monotonic() - t0, 3),
            "structured": self.structured,
        }
        return LLMReply(text=text, data=parse_json_object(text), usage=record)
