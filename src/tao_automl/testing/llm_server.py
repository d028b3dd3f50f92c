"""Start an OpenAI-compatible server script on a free loopback port and wait until it answers (tests, benchmarks)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(script: Path, *, api_key: str, alias: str, timeout_s: float = 120.0) -> Iterator[str]:
    """Run ``script PORT`` (e.g. ``ci/llm_serve.py``) with ``LLM_API_KEY``/``LLM_ALIAS``; yield ``http://127.0.0.1:PORT``.

    The URL has no ``/v1``: clients add it. The server is stopped (SIGTERM) on exit; a server that exits or
    does not answer ``/v1/models`` within ``timeout_s`` raises ``RuntimeError``.
    """
    port = free_port()
    env = {**os.environ, "LLM_API_KEY": api_key, "LLM_ALIAS": alias}
    proc = subprocess.Popen([sys.executable, str(script), str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            request = urllib.request.Request(f"{url}/v1/models", headers={"Authorization": f"Bearer {api_key}"})
            try:
                with urllib.request.urlopen(request, timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the LLM server {script.name} did not start (exit code {proc.poll()})")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
