"""A stand-in for the Gemini REST API on 127.0.0.1, answering from a script.

It takes the API's place behind the SDK's base-URL override, over real sockets: for authoring
cassettes (``scripts/author_cassettes.py``) and for testing the recorder without a key or a network.
It answers JSON, server-sent events (one chunk per event, chunked transfer encoding) and errors,
optionally gzip-encoded, and keeps every request it saw, headers included, for tests to inspect.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gemtrace.cassette_file import RecordedResponse
from gemtrace.wire import encode_body, sse_chunk


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class StandIn:
    """``with StandIn([responses...]) as api: genai.Client(http_options={"base_url": api.url})``.

    ``responses`` is the list to serve in order, or a function that picks the answer for each
    request (for requests sent concurrently, whose order is not fixed).
    """

    responses: list[RecordedResponse] | Callable[[SeenRequest], RecordedResponse]
    gzip_json: bool = False
    #: When set, a stream pauses after its first event until the event is set: a test can then
    #: prove that the first chunk reached the caller before the stream ended.
    hold_stream: threading.Event | None = None
    seen: list[SeenRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._queue = [] if callable(self.responses) else list(self.responses)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> StandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def next_response(self, seen: SeenRequest) -> RecordedResponse:
        with self._lock:
            self.seen.append(seen)
            if callable(self.responses):
                return self.responses(seen)
            if self._queue:
                return self._queue.pop(0)
        return RecordedResponse(
            status=500,
            headers={"content-type": "application/json; charset=UTF-8"},
            body={
                "error": {
                    "code": 500,
                    "message": f"stand-in script exhausted at {seen.path}",
                    "status": "INTERNAL",
                }
            },
        )


def _make_handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def do_DELETE(self) -> None:
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", errors="replace")
            seen = SeenRequest(
                self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
            )
            response = standin.next_response(seen)
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if response.is_stream:
                if "content-type" not in response.headers:
                    self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for number, event in enumerate(response.events or []):
                    if number == 1 and standin.hold_stream is not None:
                        standin.hold_stream.wait(timeout=30)
                    chunk = sse_chunk(event)
                    self.wfile.write(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                return
            payload = encode_body(response.body)
            if "content-type" not in response.headers:
                self.send_header("content-type", "application/json; charset=UTF-8")
            if standin.gzip_json and payload:
                payload = gzip.compress(payload)
                self.send_header("content-encoding", "gzip")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler
