"""A Docker registry on loopback (Registry HTTP API v2, no auth) that serves one image, slowly or stalling.

The engine treats a 127.0.0.1 registry as insecure (plain HTTP) by default, so ``docker pull
127.0.0.1:PORT/any/name:tag`` pulls from it. The image is a local one (``source``) re-layered so its one layer is
unique to this registry (a marker file added): the engine shares a layer download between pulls of the same digest,
and a stalled download left by one test must not be joined by the next.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
_PATH = re.compile(r"^/v2/(?P<name>.+)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)$")


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _saved(client: Any, source: str) -> tuple[dict[str, Any], bytes]:
    """The config and the single layer tar of the local image ``source`` (from ``docker save``)."""
    raw = b"".join(client.images.get(source).save())
    with tarfile.open(fileobj=io.BytesIO(raw)) as saved:
        (entry,) = json.loads(saved.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = json.loads(saved.extractfile(entry["Config"]).read())  # type: ignore[union-attr]
        (layer_path,) = entry["Layers"]
        layer = saved.extractfile(layer_path).read()  # type: ignore[union-attr]
    return config, layer


def _marked(layer: bytes) -> bytes:
    """``layer`` with one more file, ``/.registry-stub``, holding a fresh uuid."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(layer)) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        marker = uuid.uuid4().hex.encode()
        info = tarfile.TarInfo(".registry-stub")
        info.size = len(marker)
        dst.addfile(info, io.BytesIO(marker))
    return out.getvalue()


class StubRegistry:
    """Serves ``source`` under every repository name and tag. ``seconds``: how long the layer blob takes to send (in
    ``chunk``-byte pieces); ``stall_after``: send that many bytes of it, then nothing until :meth:`close`;
    ``corrupt``: its last byte is sent wrong (the engine's digest check fails the pull).
    ``requests`` lists the ``(method, path)`` of every request answered."""

    def __init__(self, client: Any, source: str, *, seconds: float = 0.0, chunk: int = 32 * 1024,
                 stall_after: int | None = None, corrupt: bool = False) -> None:
        config, tar = _saved(client, source)
        layer = _marked(tar)
        config["rootfs"]["diff_ids"] = [_digest(layer)]
        self.config = json.dumps(config).encode()
        self.layer = gzip.compress(layer, compresslevel=1, mtime=0)
        self.blobs = {_digest(self.config): self.config, _digest(self.layer): self.layer}
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(self.config),
                       "digest": _digest(self.config)},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(self.layer),
                        "digest": _digest(self.layer)}],
        }).encode()
        self.chunk, self.stall_after = chunk, stall_after
        self.sent_layer = self.layer[:-1] + bytes([self.layer[-1] ^ 0xFF]) if corrupt else self.layer
        self.delay_s = seconds / max(1, -(-len(self.layer) // chunk))
        self.requests: list[tuple[str, str]] = []
        self.released = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def image(self, name: str) -> str:
        """The reference of ``name`` (``repo/path:tag``) on this registry."""
        return f"{self.host}/{name}"

    def count(self, kind: str, method: str = "GET") -> int:
        """Requests of ``method`` answered for ``kind`` (``manifests``, ``blobs``, or the layer's digest)."""
        wanted = _digest(self.layer) if kind == "layer" else kind
        return sum(1 for m, path in self.requests if m == method and f"/{wanted}" in path)

    def close(self) -> None:
        """End any transfer under way (its connection is closed short) and stop serving."""
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def _send_layer(self, out: Any) -> None:
        sent = 0
        while sent < len(self.layer):
            if self.stall_after is not None and sent >= self.stall_after:
                self.released.wait(120)
            if self.released.is_set():  # closed: no pull may end after its test (leaving an image behind)
                raise ConnectionAbortedError("transfer ended by close()")
            piece = self.sent_layer[sent:sent + self.chunk]
            if self.stall_after is not None:
                piece = piece[:max(1, self.stall_after - sent)]
            out.write(piece)
            out.flush()
            sent += len(piece)
            time.sleep(self.delay_s)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _head(self, status: int, body: bytes, kind: str = "application/json", digest: str = "") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
                if digest:
                    self.send_header("Docker-Content-Digest", digest)
                self.end_headers()

            def _answer(self, send_body: bool) -> None:
                registry.requests.append((self.command, self.path))
                match = _PATH.match(self.path)
                if self.path in ("/v2", "/v2/"):
                    body, kind, digest = b"{}", "application/json", ""
                elif match and match["kind"] == "manifests":
                    body, kind, digest = registry.manifest, MANIFEST_TYPE, _digest(registry.manifest)
                elif match and match["ref"] in registry.blobs:
                    body, kind, digest = registry.blobs[match["ref"]], "application/octet-stream", match["ref"]
                else:
                    body = b'{"errors": [{"code": "NAME_UNKNOWN", "message": "not here"}]}'
                    self._head(404, body)
                    self.wfile.write(body if send_body else b"")
                    return
                self._head(200, body, kind, digest)
                if not send_body:
                    return
                try:
                    if body is registry.layer:
                        registry._send_layer(self.wfile)
                    else:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionError):
                    self.close_connection = True

            def do_GET(self) -> None:  # the stdlib handler's names
                self._answer(True)

            def do_HEAD(self) -> None:
                self._answer(False)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
