"""Raw access to the Kubernetes API through the official client: plain-JSON answers, PlatformError on failure."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tao_automl.errors import PlatformError, PlatformFullError, UserInputError, require_extra
from tao_automl.platforms.kubernetes.fit import quota_never_fits
from tao_automl.platforms.retry import TransientPlatformError

_TRANSIENT_HTTP = {0, 408, 429, 500, 502, 503, 504}
#: What the API server's ResourceQuota admission says when a namespace's quota has no room left (HTTP 403): room
#: comes back as jobs end, so it is not a refusal of the credentials.
QUOTA_EXCEEDED = "exceeded quota"


def _kubernetes() -> Any:
    """The ``kubernetes`` package (client + config), imported on first use."""
    for name in ("kubernetes.client", "kubernetes.config"):
        require_extra(name, "kubernetes", "platform 'kubernetes'")
    return require_extra("kubernetes", "kubernetes", "platform 'kubernetes'")


def _api_client(k8s: Any, kubeconfig: str | None, context: str | None) -> Any:
    """An ApiClient from the kubeconfig (and context), else from the in-cluster service account."""
    config = k8s.config
    path = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    files = [p for p in path.split(os.pathsep) if p]
    try:
        if any(Path(p).expanduser().is_file() for p in files):
            if context:
                _known_context(config, path, context)
            return config.new_client_from_config(config_file=path, context=context, persist_config=False)
        if os.environ.get("KUBERNETES_SERVICE_HOST") and not kubeconfig:
            configuration = k8s.client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            return k8s.client.ApiClient(configuration)
    except config.config_exception.ConfigException as exc:
        raise UserInputError(f"kubeconfig {path!r} (context {context!r}): {exc}", field="kubeconfig", value=path,
                             allowed="a kubeconfig file the kubernetes client loads, with that context") from None
    raise UserInputError(f"kubeconfig: no kubeconfig file at {path!r} and not running inside a cluster; set "
                         "KUBECONFIG or pass kubeconfig=...", field="kubeconfig", value=path,
                         allowed="an existing kubeconfig file (KUBECONFIG or kubeconfig=...), or running in a cluster")


def _known_context(config: Any, path: str, context: str) -> None:
    """Refuse a ``context`` the kubeconfig does not have, naming the setting and the contexts it has."""
    contexts, _ = config.list_kube_config_contexts(config_file=path)
    names = [str(c.get("name")) for c in contexts or []]
    if context not in names:
        allowed = f"a context of {path}: {', '.join(names) or '(it has none)'}"
        raise UserInputError(f"context: {context!r} is not a context of the kubeconfig {path!r}; allowed: "
                             f"{allowed}", field="context", value=context, allowed=allowed,
                             hint="kubectl config get-contexts lists them; or unset context (TAO_K8S_CONTEXT) to use "
                                  "the kubeconfig's current-context")


class KubeApi:
    """The batch/v1 and core/v1 APIs of one cluster (kubeconfig + context, else in-cluster)."""

    def __init__(self, kubeconfig: str | None, context: str | None, timeout_s: float) -> None:
        k8s = _kubernetes()
        self.api_client: Any = _api_client(k8s, kubeconfig, context)
        self.batch: Any = k8s.client.BatchV1Api(self.api_client)
        self.core: Any = k8s.client.CoreV1Api(self.api_client)
        self.authz: Any = k8s.client.AuthorizationV1Api(self.api_client)
        self._api_exception: type[Exception] = k8s.client.exceptions.ApiException
        urllib3 = importlib.import_module("urllib3")  # the client's HTTP library
        self._net_errors: tuple[type[BaseException], ...] = (urllib3.exceptions.HTTPError, OSError)
        self.timeout_s = timeout_s

    @property
    def host(self) -> str:
        return str(getattr(self.api_client.configuration, "host", "?"))

    def call(self, what: str, fn: Callable[..., Any], *args: Any, text: bool = False, **kwargs: Any) -> Any:
        """Call the API; the answer as plain JSON (or ``text``); errors as PlatformError (transient ones
        retryable)."""
        try:
            response = fn(*args, _request_timeout=self.timeout_s, _preload_content=False, **kwargs)
        except self._api_exception as exc:
            raise self._error(what, exc) from None
        except self._net_errors as exc:  # connection errors and timeouts
            raise self._unreachable(what, exc) from None
        data = response.data
        return data.decode("utf-8", "replace") if text else json.loads(data)

    def watch(self, what: str, fn: Callable[..., Any], *args: Any, timeout_s: int,
              **kwargs: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        """The watch events of a list call as (type, object as plain JSON), until the API server ends the watch
        after ``timeout_s``; errors as PlatformError, as ``call``."""
        try:
            response = fn(*args, watch=True, timeout_seconds=timeout_s, _preload_content=False,
                          _request_timeout=(self.timeout_s, timeout_s + self.timeout_s), **kwargs)
        except self._api_exception as exc:
            raise self._error(what, exc) from None
        except self._net_errors as exc:
            raise self._unreachable(what, exc) from None
        try:
            pending = b""
            for chunk in response.stream(amt=None, decode_content=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        event = json.loads(line)
                        yield str(event.get("type")), event.get("object") or {}
        except self._net_errors as exc:
            raise self._unreachable(what, exc) from None
        finally:
            response.release_conn()

    def _error(self, what: str, exc: Exception) -> PlatformError:
        """An ApiException as PlatformError (transient for retryable HTTP statuses, :class:`PlatformFullError` for a
        ResourceQuota with no room left now), with its ``status``."""
        status = int(getattr(exc, "status", 0) or 0)
        message = _api_message(exc)
        cls: type[PlatformError] = TransientPlatformError if status in _TRANSIENT_HTTP else PlatformError
        if status == 403 and QUOTA_EXCEEDED in message and not quota_never_fits(message):
            cls = PlatformFullError  # room comes back as jobs end: the rec waits (a Job over a limit fails)
        error = cls(f"kubernetes: {what}: HTTP {status} {message}")
        error.status = status  # type: ignore[attr-defined]
        return error

    def _unreachable(self, what: str, exc: BaseException) -> PlatformError:
        return TransientPlatformError(f"kubernetes: {what}: cannot reach the API server at {self.host}: "
                                      f"{type(exc).__name__}: {exc}")

    def maybe(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Like ``call`` but None on 404 Not Found."""
        try:
            return self.call(what, fn, *args, **kwargs)
        except PlatformError as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise


def _api_message(exc: Exception) -> str:
    """The API server's own message from an ApiException body, else its reason."""
    body = getattr(exc, "body", None)
    try:
        message = json.loads(body).get("message") if body else None
    except (ValueError, AttributeError):
        message = None
    return str(message or getattr(exc, "reason", "") or exc)
