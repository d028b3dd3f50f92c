"""A real HTTP server on a local socket that answers every request with one canned response (for clients such as
``openai`` talking to what they take for an endpoint; only the server behind it is replaced)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def canned_http(status: int, body: bytes, content_type: str = "application/json") -> Iterator[str]:
    """Serve ``status``/``body`` to every GET and POST; yields the ``http://127.0.0.1:PORT/v1`` base URL."""

    class Canned(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Canned)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()
        server.server_close()


class CannedChat:
    """An OpenAI-compatible endpoint on a real socket that answers every chat completion with ``answer`` (the
    ``openai`` client talks to it unchanged: only the model behind it is replaced). ``asked`` counts the chat
    completions answered; ``prompts`` holds the user message of each."""

    def __init__(self, answer: dict[str, Any], slow_after: int | None = None, slow_s: float = 0.0,
                 no_schema: bool = False) -> None:
        """``slow_after``: the chat completions after that many answered wait ``slow_s`` seconds first;
        ``no_schema``: a request asking for JSON-schema output (``response_format``) is refused with HTTP 400."""
        self.asked = 0
        self.prompts: list[str] = []
        chat = self
        body = json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": "m",
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": json.dumps(answer)}}],
                           "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the stdlib handler's name
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                chat.prompts.extend(m.get("content", "") for m in request.get("messages", [])
                                    if m.get("role") == "user")
                chat.asked += 1
                if slow_after is not None and chat.asked > slow_after:
                    time.sleep(slow_s)
                if no_schema and "response_format" in request:
                    refused = b'{"error": {"message": "response_format is not supported"}}'
                    self.send_response(400)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(refused)))
                    self.end_headers()
                    self.wfile.write(refused)
                    return
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client stopped waiting (its timeout)
                    pass

            def do_GET(self) -> None:  # /v1/models, which plan's endpoint check lists (model "m" is served)
                listing = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(listing)))
                self.end_headers()
                self.wfile.write(listing)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
