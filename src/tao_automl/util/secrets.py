"""Credentials never reach the run folder, the screen or a log: redaction by key name and by known value.

A value is a secret when its key names one (``api_key``, ``api_token``, ``WANDB_API_KEY``, ``password``,
``client_secret``…) or when it equals (or contains) the value of an environment variable whose name names one
(``LEPTON_API_TOKEN=…`` and the same string passed as a platform argument). Secrets are replaced by
:data:`REDACTED`; on resume a redacted value is taken from the caller again or dropped, so the platform's own
default (usually the same environment variable) applies.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping

TYPE_CHECKING = False  # typing stays out of `tao-automl status`'s start-up
if TYPE_CHECKING:
    import logging
    from typing import Any

REDACTED = "<redacted>"

#: Words that make a key a secret on their own.
_SECRET_WORDS = frozenset({"token", "secret", "password", "passwd", "apikey", "credential", "credentials",
                           "passphrase", "bearer", "cookie"})
#: ``key`` is a secret only with one of these before it (``api_key``, ``access_key``); ``dataset_keys`` is not.
_KEY_QUALIFIERS = frozenset({"api", "access", "secret", "private", "auth", "signing", "encryption", "account"})
#: A key with one of these words names where a secret is, not the secret (``token_env``, ``ssh_key_path``).
_REFERENCE_WORDS = frozenset({"path", "file", "dir", "env", "var", "name", "id", "url", "uri", "type", "kind",
                              "count", "limit", "tokens", "max", "num"})
#: Shorter strings are too likely to occur by chance to be scrubbed by value.
_MIN_VALUE_LENGTH = 8


def _words(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


@functools.lru_cache(maxsize=4096)  # the same spec keys are checked for every rec
def is_secret_name(key: str) -> bool:
    """True when ``key`` (a setting, argument or environment variable name) holds a credential."""
    words = _words(key)
    if any(w in _REFERENCE_WORDS for w in words):
        return False
    if any(w in _SECRET_WORDS for w in words):
        return True
    return any(w == "key" and i > 0 and words[i - 1] in _KEY_QUALIFIERS for i, w in enumerate(words))


def secret_env_values(environ: Mapping[str, str] | None = None) -> set[str]:
    """Values of environment variables whose names name a credential (long enough to match safely)."""
    env = os.environ if environ is None else environ
    return {v for k, v in env.items() if is_secret_name(k) and len(v) >= _MIN_VALUE_LENGTH}


class Redactor:
    """Replaces secrets in nested data and in text; learns the values it redacts by key name."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values: set[str] = {v for v in values if len(v) >= _MIN_VALUE_LENGTH}

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Redactor:
        return cls(secret_env_values(environ))

    def learn(self, data: Any) -> None:
        """Remember every string held under a secret key in ``data`` so text containing it is scrubbed too."""
        if isinstance(data, Mapping):
            for key, value in data.items():
                if isinstance(value, str) and is_secret_name(str(key)) and len(value) >= _MIN_VALUE_LENGTH:
                    self.values.add(value)
                else:
                    self.learn(value)
        elif isinstance(data, (list, tuple)):
            for item in data:
                self.learn(item)

    def scrub(self, text: str) -> str:
        for value in sorted(self.values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def redact(self, data: Any) -> Any:
        """A copy of ``data`` with secret-named values and known secret values replaced by :data:`REDACTED`."""
        if isinstance(data, Mapping):
            return {key: (REDACTED if is_secret_name(str(key)) and value not in (None, "") else self.redact(value))
                    for key, value in data.items()}
        if isinstance(data, list):
            return [self.redact(item) for item in data]
        if isinstance(data, tuple):
            return tuple(self.redact(item) for item in data)
        if isinstance(data, str):
            return self.scrub(data)
        return data


def redact(data: Any, extra_values: Iterable[str] = ()) -> Any:
    """:meth:`Redactor.redact` with the environment's secret values (and ``extra_values``)."""
    redactor = Redactor.from_environment()
    redactor.values.update(v for v in extra_values if len(v) >= _MIN_VALUE_LENGTH)
    redactor.learn(data)
    return redactor.redact(data)


def unredacted(stored: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Stored arguments merged with what a resuming caller gives (the caller wins); a redacted value that the
    caller does not give again is left out, so the platform's own default (its environment variable) applies."""
    merged: dict[str, Any] = {}
    for key, value in stored.items():
        if value == REDACTED and key not in given:
            continue
        merged[key] = unredacted(value, {}) if isinstance(value, Mapping) else value
    for key, value in given.items():
        if isinstance(merged.get(key), Mapping) and isinstance(value, Mapping):
            merged[key] = unredacted(merged[key], value)
        else:
            merged[key] = value
    return merged


class RedactingFilter:
    """A handler filter that scrubs known secret values from every formatted log message.

    Any object with ``filter(record)`` is a logging filter: this module needs no ``logging`` import, so the
    read-only commands that use the redactor start without it.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        self.redactor = redactor or Redactor.from_environment()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self.redactor.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        # the stack trace too (a tracker's first failure is logged with it): its last line is the exception's message
        if record.exc_info and not record.exc_text:
            import logging  # loaded already: a record exists

            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.scrub(record.stack_info)
        return True
