"""A scripted OpenAI-compatible engine on 127.0.0.1, for what a real server won't do on demand.

Each `POST /v1/chat/completions` takes the next `Reply` from `FakeEngine.replies` (the default reply
once they run out): an error status, a stream that stalls, breaks or ends without a finish reason, a
usage chunk or none. By default the answer echoes the last user message, so tests can tell which
request got which answer. It records every request's body and headers and the peak number of
generation requests in flight.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

TokenizerStyle = Literal["none", "content", "input"]


@dataclass
class Reply:
    status: int = 200
    pieces: tuple[str, ...] | None = None  # None: the last user message's words, one piece each
    finish: str | None = "stop"
    usage: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""  # the body of an error status
    stall_after: int | None = None  # pieces sent before the stream goes silent
    ping_while_stalled: bool = False  # send SSE comment pings while stalled (as sse-starlette does)
    break_after: int | None = None  # pieces sent before the connection is dropped
    done: bool = True  # end with data: [DONE]
    piece_delay: float = 0.0
    error_chunk: str = ""  # a {"error": ...} chunk sent after the pieces (vLLM style)
    json_body: bool = False  # answer with one JSON document, as a server that ignores `stream`


class FakeEngine:
    """The server's state; `url` is the base URL a RemoteBackend is given (up to /v1)."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.default = Reply()
        self.models = ["fake-model"]
        self.models_status = 200  # GET /v1/models answers this (401: a wrong API key)
        self.tokenizer: TokenizerStyle = "none"
        self.bos = False  # the "input" tokenizer adds a BOS token, as llama-cpp-python's does
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.active = 0
        self.peak = 0
        self.release = threading.Event()  # ends every stall (at teardown)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-engine", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def generations(self) -> int:
        return len(self.bodies)

    def start(self) -> FakeEngine:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def next_reply(self) -> Reply:
        with self._lock:
            return self.replies.popleft() if self.replies else self.default

    def enter(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self._lock:
            self.bodies.append(body)
            self.headers.append(headers)
            self.active += 1
            self.peak = max(self.peak, self.active)

    def leave(self) -> None:
        with self._lock:
            self.active -= 1


def _handler(engine: FakeEngine) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the connection closes after each answer: the end of a stream

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            engine.paths.append(self.path)
            if self.path == "/v1/models" and engine.models_status != 200:
                self._json(engine.models_status, {"error": {"message": "Invalid API key"}})
            elif self.path == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in engine.models]})
            else:
                self._json(404, {"detail": "Not Found"})

        def do_POST(self) -> None:
            engine.paths.append(self.path)
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/v1/chat/completions":
                engine.enter(body, {k.lower(): v for k, v in self.headers.items()})
                self._counted = True
                try:
                    self._generate(body, engine.next_reply())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)
                finally:
                    self._leave()
            elif self.path == "/tokenize" and engine.tokenizer == "content" and "content" in body:
                self._json(200, {"tokens": list(range(len(body["content"].split())))})
            elif self.path == "/extras/tokenize" and engine.tokenizer == "input":
                self._json(200, {"tokens": list(range(len(body["input"].split()) + int(engine.bos)))})
            else:
                self._json(404, {"detail": "Not Found"})

        def _json(self, status: int, data: Any) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _leave(self) -> None:
            """Stop counting this request before its last bytes go out: once the client has read
            them it may send the next request, which must not find this one still counted."""
            if getattr(self, "_counted", False):
                self._counted = False
                engine.leave()

        def _generate(self, body: dict[str, Any], reply: Reply) -> None:
            if reply.status != 200:
                self._leave()
                raw = reply.body.encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
                return
            pieces = reply.pieces if reply.pieces is not None else _echo(body)
            if reply.json_body:
                self._leave()
                message = {"role": "assistant", "content": "".join(pieces)}
                self._json(200, {"choices": [{"index": 0, "message": message, "finish_reason": reply.finish}]})
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.end_headers()
            self._event({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
            for number, piece in enumerate(pieces):
                if reply.break_after is not None and number >= reply.break_after:
                    return  # the connection drops: no finish reason, no [DONE]
                if reply.stall_after is not None and number >= reply.stall_after:
                    self._stall(reply.ping_while_stalled)
                    return
                if reply.piece_delay:
                    time.sleep(reply.piece_delay)
                self._event({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
            self._leave()
            if reply.error_chunk:
                self._event({"error": {"message": reply.error_chunk}})
                return
            if reply.finish is not None:
                self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish}]})
            if reply.usage is not None:
                self._event({"choices": [], "usage": reply.usage})
            if reply.done:
                self._line("data: [DONE]\n\n")

        def _stall(self, ping: bool) -> None:
            while not engine.release.wait(0.05):
                if ping:
                    self._line(": ping\n\n")

        def _event(self, data: dict[str, Any]) -> None:
            self._line(f"data: {json.dumps(data)}\n\n")

        def _line(self, text: str) -> None:
            self.wfile.write(text.encode())
            self.wfile.flush()

    return Handler


def _echo(body: dict[str, Any]) -> tuple[str, ...]:
    users = [m["content"] for m in body.get("messages", []) if m.get("role") == "user"]
    words = (users[-1] if users else "").split()
    return tuple(w if i == 0 else f" {w}" for i, w in enumerate(words))
