"""A loopback OpenAI-compatible HTTP server whose answers and faults are scripted per test.

The real ``openai`` SDK talks to it over HTTP, so retries, timeouts and parsing are exercised
for real; only the model itself is scripted. Script entries, consumed one per request:

- ``Reply(content=...)``: a normal chat completion whose message content is that string
- ``Reply(status=429, headers={"Retry-After": "1"})``: an HTTP error with an OpenAI error body
- ``Reply(delay=5)``: sleep before answering (drive client timeouts)
- ``Reply(raw=b"...")``: send these bytes as the body, verbatim (malformed responses)

When the script is empty, ``default(request_json)`` answers (returning a content string).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    content: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bytes | None = None
    prompt_tokens: int = 100
    completion_tokens: int = 50
    # When the server "refuses" json_schema response_format, like some vLLM/Ollama builds.
    reject_json_schema: bool = False


class FakeOpenAI:
    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.default: Callable[[dict[str, Any]], str] = lambda request: "{}"
        self.model = "fake-model"
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    def _next(self) -> Reply | None:
        with self._lock:
            return self.script.popleft() if self.script else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                return

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": fake.model, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    fake.requests.append(body)
                reply = fake._next() or Reply(content=fake.default(body))
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.reject_json_schema and (body.get("response_format") or {}).get("type") == "json_schema":
                    self._send(400, {"error": {"message": "response_format json_schema is not supported",
                                               "type": "invalid_request_error", "code": None}})
                    return
                if reply.raw is not None:
                    self._send_bytes(reply.status, reply.raw, reply.headers)
                    return
                if reply.status >= 400:
                    self._send(reply.status, {"error": {"message": f"scripted {reply.status}",
                                                        "type": "server_error", "code": None}}, reply.headers)
                    return
                self._send(200, {
                    "id": f"chatcmpl-{len(fake.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", fake.model),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply.content}}],
                    "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                              "total_tokens": reply.prompt_tokens + reply.completion_tokens},
                }, reply.headers)

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                self._send_bytes(status, json.dumps(payload).encode(), {"Content-Type": "application/json",
                                                                       **(headers or {})})

            def _send_bytes(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        return Handler
