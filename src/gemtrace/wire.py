"""Between HTTP messages and cassette records: JSON bodies, and server-sent events.

Gemini streams with SSE framed as ``data: {json}\\r\\n\\r\\n``. A cassette stores the list of
event payloads; replay sends each event as its own chunk so that the SDK streams as it does live.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
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


def response_record(
    status: int,
    headers: httpx.Headers,
    content: bytes,
    arrivals: list[tuple[int, float]] | None = None,
) -> RecordedResponse:
    """``arrivals``: (bytes received so far, ms since the response started) after each chunk."""
    kept = {name: headers[name] for name in KEPT_RESPONSE_HEADERS if name in headers}
    if is_sse(headers):
        events = parse_sse(content)
        times = event_times(content, arrivals) if arrivals else None
        if times is not None and len(times) != len(events):
            times = None
        return RecordedResponse(status=status, headers=kept, events=events, event_times_ms=times)
    return RecordedResponse(status=status, headers=kept, body=parse_body(content))


def event_times(content: bytes, arrivals: list[tuple[int, float]]) -> list[float]:
    """When each event was complete: the arrival of the chunk that held its closing blank line."""
    ends = [m.end() for m in re.finditer(rb"(?:\r\n|\n|\r){2}", content)]
    if content.strip() and (not ends or ends[-1] < len(content.rstrip())):
        ends.append(len(content))
    times = []
    for end in ends:
        times.append(
            next(
                (round(ms, 1) for received, ms in arrivals if received >= end),
                round(arrivals[-1][1], 1),
            )
        )
    return times


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
    """A response body that yields one SSE event per chunk, sync or async.

    With ``delays`` (seconds before each event) it keeps the recorded pacing; without, it
    streams at once.
    """

    def __init__(self, events: list[Any], delays: list[float] | None = None) -> None:
        self._chunks = [sse_chunk(event) for event in events]
        self._delays = delays or [0.0] * len(self._chunks)

    def __iter__(self) -> Iterator[bytes]:
        for delay, chunk in zip(self._delays, self._chunks, strict=True):
            if delay > 0:
                time.sleep(delay)
            yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for delay, chunk in zip(self._delays, self._chunks, strict=True):
            if delay > 0:
                await asyncio.sleep(delay)
            yield chunk


def pacing_delays(times_ms: list[float] | None) -> list[float] | None:
    if not times_ms:
        return None
    previous, delays = 0.0, []
    for at in times_ms:
        delays.append(max(at - previous, 0.0) / 1000)
        previous = at
    return delays


def build_response(record: RecordedResponse, paced: bool = False) -> httpx.Response:
    """The HTTP response for a record; ``paced`` replays a stream with its recorded timing."""
    headers = dict(record.headers)
    if record.is_stream:
        headers.setdefault("content-type", SSE_CONTENT_TYPE)
        delays = pacing_delays(record.event_times_ms) if paced else None
        return httpx.Response(
            record.status, headers=headers, stream=EventStream(record.events or [], delays)
        )
    if isinstance(record.body, (dict, list)):
        headers.setdefault("content-type", "application/json; charset=UTF-8")
    return httpx.Response(record.status, headers=headers, content=encode_body(record.body))
