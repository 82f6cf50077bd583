"""A cassette in use: replay what it holds, record what it is allowed to.

Record modes, with the names users know from vcrpy and pytest-recording:

- ``none``: replay only; a request without a recorded answer raises :class:`CassetteMiss`. The
  default, so that CI never calls the live API unless asked to.
- ``once``: record a cassette that does not exist yet; replay one that does.
- ``new_episodes``: replay what matches, record what does not, and append it.
- ``all``: record everything again; the file is replaced only if the whole run succeeds.

Nothing is written when the block raises (Ctrl-C included): the previous file stays as it was.
"""

from __future__ import annotations

import datetime as _dt
import functools
import inspect
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from gemtrace import cassette_file, guard
from gemtrace.cassette_file import Cassette, Interaction, RecordedRequest
from gemtrace.errors import (
    CassetteFormatError,
    CassetteMiss,
    CassetteNotFound,
    GemtraceError,
    MissingApiKey,
)
from gemtrace.guard import is_loopback
from gemtrace.intercept import FORWARD_EXTENSION, intercepted
from gemtrace.matching import Matcher, api_version_of, key_for, model_of
from gemtrace.scrub import (
    API_KEY_VARIABLES,
    ScrubRules,
    check_file,
    known_secrets,
    redact_text,
    scrub_value,
)
from gemtrace.verify import response_shape_problems
from gemtrace.wire import build_response, request_record, response_record

MODES = ("none", "once", "new_episodes", "all")
REPLAY_PLACEHOLDER_KEY = "gemtrace-replay-needs-no-key"
_UPSTREAM_TIMEOUT = httpx.Timeout(600.0, connect=30.0)
_HOP_HEADERS = ("content-encoding", "content-length", "transfer-encoding", "connection")
F = TypeVar("F", bound=Callable[..., Any])


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise GemtraceError(
            f"Unknown record mode {mode!r}. Valid modes: {', '.join(MODES)} "
            "(none = replay only, once = record if the cassette is missing, "
            "new_episodes = record what is missing, all = record everything again)."
        )
    return mode


def api_key() -> str | None:
    for name in API_KEY_VARIABLES:
        if os.environ.get(name):
            return os.environ[name]
    return None


def require_api_key(why: str) -> None:
    if api_key() is None:
        raise MissingApiKey(
            f"{why} needs the live Gemini API, and no key is set. Set GEMINI_API_KEY "
            "(or GOOGLE_API_KEY) in the environment, e.g. GEMINI_API_KEY=... make record; "
            "or use mode='none' to replay only."
        )


class CassetteSession:
    """``with gemtrace.cassette(path, mode=...):`` — also a decorator and an async context manager."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        mode: str = "none",
        *,
        match_ignore: Sequence[str] = (),
        scrub: ScrubRules | None = None,
        metadata: dict[str, Any] | None = None,
        source: str | None = None,
        stream_pacing: str = "instant",
    ) -> None:
        self.path = Path(path)
        self.mode = check_mode(mode)
        self.match_ignore = tuple(match_ignore)
        self.scrub = scrub or ScrubRules()
        self.extra_metadata = dict(metadata or {})
        self.source = source
        if stream_pacing not in ("instant", "recorded"):
            raise GemtraceError(
                f"Unknown stream_pacing {stream_pacing!r}: use 'instant' (streams replay at "
                "once) or 'recorded' (with the pauses between events that were recorded)."
            )
        self.paced = stream_pacing == "recorded"
        self._lock = threading.Lock()
        self._stack: list[Any] = []

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> CassetteSession:
        self._open()
        stack = ExitStack()
        stack.enter_context(intercepted(self))
        if not self.recording:
            stack.enter_context(guard.offline())
        self._stack.append((stack, self._lend_placeholder_key()))
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        stack, lent_key = self._stack.pop()
        if lent_key:
            os.environ.pop(API_KEY_VARIABLES[0], None)
        stack.__exit__(exc_type, exc, tb)
        self._close_clients()
        if exc_type is None:
            self._write()

    async def __aenter__(self) -> CassetteSession:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with self:
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def _lend_placeholder_key(self) -> bool:
        """Replay needs no key, but ``genai.Client()`` refuses to start without one: lend it a
        placeholder for the block, so that code written for the live API runs unchanged in CI."""
        if self.recording or api_key() is not None:
            return False
        os.environ[API_KEY_VARIABLES[0]] = REPLAY_PLACEHOLDER_KEY
        return True

    def _open(self) -> None:
        exists = self.path.exists()
        if self.mode == "none" and not exists:
            raise CassetteNotFound(
                f"{self.path}: no such cassette, and record mode 'none' only replays. "
                "Record it once with a key: GEMINI_API_KEY=... and mode='once' "
                "(gemtrace record, or --gemini-record-mode=once under pytest)."
            )
        if self.mode == "all" or not exists:
            self.cassette = Cassette(metadata={}, interactions=[], path=self.path)
        else:
            self.cassette = cassette_file.load(self.path)
            shape = response_shape_problems(self.cassette)
            if shape:
                raise CassetteFormatError(
                    f"{self.path}: {shape[0]} The SDK could not parse this answer; fix the field "
                    "or record the cassette again."
                )
        self.replaying = self.mode != "all"
        self.recording = self.mode in ("all", "new_episodes") or (
            self.mode == "once" and not exists
        )
        if self.mode == "all" or (self.mode == "once" and not exists):
            require_api_key(f"Recording {self.path} (mode {self.mode!r})")
        self.matcher = Matcher(self.cassette.interactions, ignore=self.match_ignore)
        self.recorded: list[Interaction] = []
        self.replayed = 0
        self._sync_client: httpx.Client | None = None

    # -- the handler that intercept.py calls ---------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        record = request_record(request)
        if self.replaying:
            found = self.matcher.take(record)
            if found is not None:
                self.replayed += 1
                return build_response(found[1].response, self.paced)
        self._before_recording(record)
        return self._forward(request, record)

    async def ahandle(self, request: httpx.Request) -> httpx.Response:
        record = request_record(request)
        if self.replaying:
            found = self.matcher.take(record)
            if found is not None:
                self.replayed += 1
                return build_response(found[1].response, self.paced)
        self._before_recording(record)
        return await self._aforward(request, record)

    def _before_recording(self, record: RecordedRequest) -> None:
        if not self.recording:
            raise self.miss(record)
        require_api_key(f"Recording a new request into {self.path} (mode {self.mode!r})")

    def miss(self, record: RecordedRequest) -> CassetteMiss:
        key = key_for(record.method, record.url, record.body, self.match_ignore)
        model = model_of(key.path)
        lines = [
            f"No recorded answer in {self.path} for this request:",
            f"  {key.describe()}" + (f"  (model {model})" if model else ""),
            f"  to {urlsplit(record.url).netloc}; nothing was sent: replay is offline.",
        ]
        times = self.matcher.times_recorded(record)
        if times:
            lines.append(
                f"It was recorded {times} time(s) and every recorded answer has been used: "
                "the code now makes this call more often than when the cassette was recorded."
            )
        else:
            closest = self.matcher.closest(record)
            if closest is None:
                lines.append("The cassette holds no interactions.")
            else:
                index, best, diff = closest
                best_key = key_for(best.request.method, best.request.url, best.request.body)
                lines.append(
                    f"Closest recorded request: interaction {index}, {best_key.describe()}"
                )
                if best_key.path != key.path:
                    lines.append("  (a different endpoint or model)")
                if diff:
                    lines.extend("  " + line for line in _shorten(diff.splitlines()))
        lines.append(
            "To record it, run with a key and a recording mode: GEMINI_API_KEY=... "
            "gemtrace record --mode new_episodes, or gemtrace.cassette(path, mode='new_episodes')."
        )
        return CassetteMiss("\n".join(lines))

    # -- recording -------------------------------------------------------------------------

    def _forward_request(self, request: httpx.Request) -> httpx.Request:
        return httpx.Request(
            request.method,
            request.url,
            headers=request.headers,
            content=request.content,
            extensions={FORWARD_EXTENSION: True},
        )

    def _forward(self, request: httpx.Request, record: RecordedRequest) -> httpx.Response:
        with self._lock:
            if self._sync_client is None:
                self._sync_client = httpx.Client(timeout=_UPSTREAM_TIMEOUT)
        started = time.monotonic()
        upstream = self._sync_client.send(self._forward_request(request), stream=True)
        if upstream.is_error:
            content = upstream.read()
            upstream.close()
            self._keep(record, upstream, content, [])
            return self._error_passed_on(upstream, content)
        captured = bytearray()
        arrivals: list[tuple[int, float]] = []

        def chunks() -> Iterator[bytes]:
            try:
                for chunk in upstream.iter_bytes():
                    captured.extend(chunk)
                    arrivals.append((len(captured), (time.monotonic() - started) * 1000))
                    yield chunk
            finally:
                upstream.close()
                self._keep(record, upstream, bytes(captured), arrivals)

        return _passed_on(upstream, _SyncStream(chunks()))

    async def _aforward(self, request: httpx.Request, record: RecordedRequest) -> httpx.Response:
        # One client per request: an async client's connections belong to the event loop that
        # opened them, and the SDK may call from several loops (asyncio.run each time).
        client = httpx.AsyncClient(timeout=_UPSTREAM_TIMEOUT)
        started = time.monotonic()
        try:
            upstream = await client.send(self._forward_request(request), stream=True)
        except BaseException:
            await client.aclose()
            raise
        if upstream.is_error:
            try:
                content = await upstream.aread()
            finally:
                await upstream.aclose()
                await client.aclose()
            self._keep(record, upstream, content, [])
            return self._error_passed_on(upstream, content)
        captured = bytearray()
        arrivals: list[tuple[int, float]] = []

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream.aiter_bytes():
                    captured.extend(chunk)
                    arrivals.append((len(captured), (time.monotonic() - started) * 1000))
                    yield chunk
            finally:
                await upstream.aclose()
                await client.aclose()
                self._keep(record, upstream, bytes(captured), arrivals)

        return _passed_on(upstream, _AsyncStream(chunks()))

    def _error_passed_on(self, upstream: httpx.Response, content: bytes) -> httpx.Response:
        """An API error, with any echo of the key redacted before the SDK (and so its exception,
        the trace and the logs) sees it. Nothing else of the answer changes."""
        text = redact_text(
            content.decode("utf-8", errors="replace"), known_secrets(self.scrub.secrets)
        )
        return _passed_on(upstream, httpx.ByteStream(text.encode("utf-8")))

    def _keep(
        self,
        record: RecordedRequest,
        upstream: httpx.Response,
        content: bytes,
        arrivals: list[tuple[int, float]],
    ) -> None:
        interaction = Interaction(
            request=record,
            response=response_record(upstream.status_code, upstream.headers, content, arrivals),
        )
        with self._lock:
            self.recorded.append(interaction)
        self.matcher.add(interaction, used=True)

    def _close_clients(self) -> None:
        if self._sync_client is not None:
            self._sync_client.close()
            self._sync_client = None

    def _write(self) -> None:
        if not self.recorded:
            return
        secrets = known_secrets(self.scrub.secrets)
        for item in self.recorded:
            item.request.body = scrub_value(item.request.body, self.scrub, secrets)
            item.response.body = scrub_value(item.response.body, self.scrub, secrets)
            if item.response.events is not None:
                item.response.events = scrub_value(item.response.events, self.scrub, secrets)
        self.cassette.interactions.extend(self.recorded)
        self.cassette.metadata = {
            **self.cassette.metadata,
            **self.extra_metadata,
            **provenance(self.cassette, self.source),
        }
        cassette_file.save(self.cassette, self.path)
        try:
            check_file(self.path, secrets)
        except GemtraceError:
            self.path.unlink(missing_ok=True)
            raise


def provenance(cassette: Cassette, source: str | None = None) -> dict[str, Any]:
    """Where a cassette came from. Unless told, ``source`` is "recorded" only when no request went
    to a loopback address: a stand-in server on this machine is not the live API."""
    from google.genai import version as genai_version

    from gemtrace import __version__

    urls = [item.request.url for item in cassette.interactions]
    if source is None:
        source = (
            "authored"
            if any(is_loopback(urlsplit(url).hostname or "") for url in urls)
            else "recorded"
        )
    versions = sorted({v for url in urls if (v := api_version_of(url))})
    models = sorted({m for url in urls if (m := model_of(url))})
    return {
        "source": source,
        "sdk": "google-genai",
        "sdk_version": genai_version.__version__,
        "api_version": versions[0] if len(versions) == 1 else versions,
        "models": models,
        "created": _dt.datetime.now(_dt.UTC).date().isoformat(),
        "gemtrace_version": __version__,
    }


def _passed_on(
    upstream: httpx.Response, stream: httpx.SyncByteStream | httpx.AsyncByteStream
) -> httpx.Response:
    """The upstream answer as the SDK gets it: its status and headers, over our body stream."""
    headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS]
    return httpx.Response(upstream.status_code, headers=headers, stream=stream)


class _SyncStream(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close:
            close()


class _AsyncStream(httpx.AsyncByteStream):
    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        close = getattr(self._chunks, "aclose", None)
        if close:
            await close()


def _shorten(lines: list[str], limit: int = 40, width: int = 160) -> list[str]:
    out = [line if len(line) <= width else line[: width - 3] + "..." for line in lines[:limit]]
    if len(lines) > limit:
        out.append(f"... ({len(lines) - limit} more diff lines)")
    return out


def cassette(
    path: str | os.PathLike[str],
    mode: str = "none",
    *,
    match_ignore: Sequence[str] = (),
    scrub: ScrubRules | None = None,
    metadata: dict[str, Any] | None = None,
    stream_pacing: str = "instant",
) -> CassetteSession:
    """Answer google-genai's HTTP requests from the cassette at ``path`` (recording per ``mode``).

    Works around any code that uses google-genai, sync or async, streaming or not, with either of
    the SDK's HTTP backends, whether the client was created inside the block or before it. Also a
    decorator, and an async context manager.

    - ``match_ignore``: dotted JSON paths of the request body left out of matching, e.g. a
      timestamp in a prompt: ``["contents.0.parts.0.text"]`` (``*`` for any key or item).
    - ``scrub``: extra :class:`ScrubRules` applied before anything is written.
    - ``stream_pacing``: ``"instant"`` replays streams at once; ``"recorded"`` keeps the pauses
      between events that were recorded (cassettes written by gemtrace keep them).
    """
    return CassetteSession(
        path,
        mode,
        match_ignore=match_ignore,
        scrub=scrub,
        metadata=metadata,
        stream_pacing=stream_pacing,
    )
