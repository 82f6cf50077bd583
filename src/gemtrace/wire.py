"""Between HTTP messages and cassette records: JSON bodies, and server-sent events.

Gemini streams with SSE framed as ``data: {json}\\r\\n\\r\\n``. A cassette stores the list of
event payloads; replay sends each event as its own chunk so that the SDK streams as it does live.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from gemtrace.cassette_file import RecordedRequest, RecordedResponse
from gemtrace.scrub import clean_url

KEPT_RESPONSE_HEADERS = ("content-type",)
SSE_CONTENT_TYPE = "text/event-stream"


def parse_body(content: bytes) -> Any:
    """JSON where it is JSON, text otherwise, None for an empty body."""
    if not content:
        return None
    text = content.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def encode_body(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def request_record(request: httpx.Request) -> RecordedRequest:
    """A request as the cassette keeps it: no headers, no credential in the URL."""
    return RecordedRequest(
        method=request.method.upper(),
        url=clean_url(str(request.url)),
        body=parse_body(request.content),
    )


def is_sse(headers: httpx.Headers | dict[str, str]) -> bool:
    return SSE_CONTENT_TYPE in headers.get("content-type", "").lower()


def response_record(status: int, headers: httpx.Headers, content: bytes) -> RecordedResponse:
    kept = {name: headers[name] for name in KEPT_RESPONSE_HEADERS if name in headers}
    if is_sse(headers):
        return RecordedResponse(status=status, headers=kept, events=parse_sse(content))
    return RecordedResponse(status=status, headers=kept, body=parse_body(content))


def parse_sse(content: bytes) -> list[Any]:
    """The data of each event; chunk boundaries do not matter here, only blank-line framing."""
    events: list[Any] = []
    text = content.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    for block in text.split("\n\n"):
        data = [line[5:].lstrip(" ") for line in block.split("\n") if line.startswith("data:")]
        if data:
            events.append(parse_body("\n".join(data).encode("utf-8")))
    return events


def sse_chunk(event: Any) -> bytes:
    return b"data: " + encode_body(event) + b"\r\n\r\n"


class EventStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that yields one SSE event per chunk, sync or async."""

    def __init__(self, events: list[Any]) -> None:
        self._chunks = [sse_chunk(event) for event in events]

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


def build_response(record: RecordedResponse) -> httpx.Response:
    headers = dict(record.headers)
    if record.is_stream:
        headers.setdefault("content-type", SSE_CONTENT_TYPE)
        return httpx.Response(
            record.status, headers=headers, stream=EventStream(record.events or [])
        )
    if isinstance(record.body, (dict, list)):
        headers.setdefault("content-type", "application/json; charset=UTF-8")
    return httpx.Response(record.status, headers=headers, content=encode_body(record.body))
