"""The spans MLflow's Gemini autolog does not write yet: ``gemtrace.autolog()``.

Measured with mlflow 3.17 and google-genai 3.6, autolog leaves gaps:

- ``generate_content_stream`` and ``send_message_stream`` (sync and async) are not traced. Here each
  call becomes a span that ends when the stream ends, with the aggregated text as output, the chunk
  count, the usage of the final chunk and the time to the first chunk (an attribute and an event).
- functions run by automatic function calling get no span. Here each becomes a TOOL span named
  after the function, with its arguments as inputs and its result (or exception) as output.
- thinking tokens are dropped, and a span's usage counts only the last of several function-calling
  rounds. Here a span processor records ``gemtrace.usage.thoughts_tokens`` and makes every span's
  usage the sum of its children's.

These patch only what autolog leaves alone, work with autolog on or off, and return exactly what
the SDK returns.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

THOUGHTS_ATTRIBUTE = "gemtrace.usage.thoughts_tokens"
FIRST_CHUNK_ATTRIBUTE = "gemtrace.stream.time_to_first_chunk_ms"
CHUNKS_ATTRIBUTE = "gemtrace.stream.chunks"
USAGE_ATTRIBUTE = "mlflow.chat.tokenUsage"

_lock = threading.Lock()
_originals: dict[tuple[Any, str], Any] = {}


def autolog(disable: bool = False) -> None:
    """Switch gemtrace's extra spans on (or off with ``disable=True``); call next to autolog."""
    with _lock:
        if disable:
            _unpatch()
            _USAGE.remove()
        else:
            _patch()
            _USAGE.install()


def enabled() -> bool:
    return bool(_originals)


# -- patching ----------------------------------------------------------------------------------


def _patch() -> None:
    if _originals:
        return
    from google.genai import _extra_utils, chats, models

    targets = [
        (models.Models, "generate_content_stream", _sync_stream("LLM")),
        (models.AsyncModels, "generate_content_stream", _async_stream("LLM")),
        (chats.Chat, "send_message_stream", _sync_stream("CHAT_MODEL")),
        (chats.AsyncChat, "send_message_stream", _async_stream("CHAT_MODEL")),
        (_extra_utils, "invoke_function_from_dict_args", _sync_tool),
        (_extra_utils, "invoke_function_from_dict_args_async", _async_tool),
    ]
    for owner, name, make_wrapper in targets:
        original = getattr(owner, name)
        _originals[(owner, name)] = original
        setattr(owner, name, make_wrapper(original))


def _unpatch() -> None:
    for (owner, name), original in _originals.items():
        setattr(owner, name, original)
    _originals.clear()


# -- streaming -----------------------------------------------------------------------------------


def _span_name(original: Callable[..., Any]) -> str:
    return original.__qualname__


def _inputs(original: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> dict:
    try:
        bound = inspect.signature(original).bind(instance, *args, **kwargs)
    except TypeError:
        return {"args": list(args), **kwargs}
    return {k: v for k, v in list(bound.arguments.items())[1:] if v is not None}


def _model_of(instance: Any, inputs: dict) -> str | None:
    return inputs.get("model") or getattr(instance, "_model", None)


def _start(span_type: str, original: Callable[..., Any], instance: Any, args: tuple, kwargs: dict):
    import mlflow

    inputs = _inputs(original, instance, args, kwargs)
    span = mlflow.start_span_no_context(
        name=_span_name(original),
        span_type=span_type,
        inputs=inputs,
        parent_span=mlflow.get_current_active_span(),
    )
    if model := _model_of(instance, inputs):
        span.set_attribute("mlflow.llm.model", model)
        span.set_attribute("mlflow.llm.provider", "gemini")
    return _StreamRecord(span)


class _StreamRecord:
    """Accumulates a stream on its span, and ends the span when the stream ends."""

    def __init__(self, span: Any) -> None:
        self.span = span
        self.started = time.monotonic()
        self.texts: list[str] = []
        self.chunks = 0
        self.last_usage: Any = None
        self.finish_reason: str | None = None
        self.ended = False

    def context(self):
        from mlflow.tracing.provider import safe_set_span_in_context

        return safe_set_span_in_context(self.span)

    def add(self, chunk: Any) -> None:
        if self.chunks == 0:
            from mlflow.entities import SpanEvent

            elapsed = (time.monotonic() - self.started) * 1000
            self.span.set_attribute(FIRST_CHUNK_ATTRIBUTE, round(elapsed, 3))
            self.span.add_event(SpanEvent("first_chunk", attributes={"elapsed_ms": elapsed}))
        self.chunks += 1
        for candidate in (getattr(chunk, "candidates", None) or [])[:1]:
            content = getattr(candidate, "content", None)
            for part in getattr(content, "parts", None) or []:
                if getattr(part, "text", None) and not getattr(part, "thought", False):
                    self.texts.append(part.text)
            if getattr(candidate, "finish_reason", None):
                self.finish_reason = str(
                    getattr(candidate.finish_reason, "value", candidate.finish_reason)
                )
        if getattr(chunk, "usage_metadata", None) is not None:
            self.last_usage = chunk.usage_metadata

    def end(self, error: BaseException | None = None) -> None:
        """End the span once: at the stream's end, on its error, or when the caller stops early."""
        if self.ended:
            return
        self.ended = True
        outputs = {"text": "".join(self.texts), "chunks": self.chunks}
        if self.finish_reason:
            outputs["finish_reason"] = self.finish_reason
        self.span.set_attribute(CHUNKS_ATTRIBUTE, self.chunks)
        usage, thoughts = usage_of(self.last_usage)
        if usage:
            self.span.set_attribute(USAGE_ATTRIBUTE, usage)
        if thoughts:
            self.span.set_attribute(THOUGHTS_ATTRIBUTE, thoughts)
        if error is None:
            self.span.end(outputs=outputs)
        else:
            from mlflow.entities import SpanEvent, SpanStatusCode

            self.span.add_event(SpanEvent.from_exception(error))
            self.span.end(outputs=outputs, status=SpanStatusCode.ERROR)


def _sync_stream(span_type: str) -> Callable[[Callable[..., Iterator[Any]]], Callable[..., Any]]:
    def make(original: Callable[..., Iterator[Any]]) -> Callable[..., Any]:
        @functools.wraps(original)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
            record = _start(span_type, original, self, args, kwargs)
            try:
                with record.context():
                    stream = original(self, *args, **kwargs)
            except BaseException as error:
                record.end(error)
                raise
            return _iterate(record, stream)

        return wrapper

    return make


def _iterate(record: _StreamRecord, stream: Iterator[Any]) -> Iterator[Any]:
    try:
        while True:
            with record.context():
                try:
                    chunk = next(stream)
                except StopIteration:
                    break
            record.add(chunk)
            yield chunk
    except Exception as error:
        record.end(error)
        raise
    finally:
        record.end()  # also when the caller stops early (break, or the generator was closed)


def _async_stream(span_type: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            record = _start(span_type, original, self, args, kwargs)
            try:
                with record.context():
                    stream = await original(self, *args, **kwargs)
            except BaseException as error:
                record.end(error)
                raise
            return _aiterate(record, stream)

        return wrapper

    return make


async def _aiterate(record: _StreamRecord, stream: AsyncIterator[Any]) -> AsyncIterator[Any]:
    try:
        while True:
            with record.context():
                try:
                    chunk = await stream.__anext__()
                except StopAsyncIteration:
                    break
            record.add(chunk)
            yield chunk
    except Exception as error:
        record.end(error)
        raise
    finally:
        record.end()


# -- tools ---------------------------------------------------------------------------------------


@contextmanager
def _tool_call(function: Callable[..., Any], args: dict) -> Iterator[dict[str, Any]]:
    """A TOOL span around one function call; the caller puts the result in the yielded dict."""
    import mlflow

    with mlflow.start_span(name=getattr(function, "__name__", "tool"), span_type="TOOL") as span:
        span.set_inputs(dict(args))
        outcome: dict[str, Any] = {}
        try:
            yield outcome
        except Exception as error:
            span.set_outputs({"error": str(error.__cause__ or error)})
            raise
        span.set_outputs(outcome.get("result"))


def _sync_tool(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def wrapper(args: dict, function_to_invoke: Callable[..., Any]) -> Any:
        with _tool_call(function_to_invoke, args) as outcome:
            outcome["result"] = original(args, function_to_invoke)
        return outcome["result"]

    return wrapper


def _async_tool(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def wrapper(args: dict, function_to_invoke: Callable[..., Any]) -> Any:
        with _tool_call(function_to_invoke, args) as outcome:
            outcome["result"] = await original(args, function_to_invoke)
        return outcome["result"]

    return wrapper


# -- usage ---------------------------------------------------------------------------------------


def usage_of(metadata: Any) -> tuple[dict[str, int] | None, int | None]:
    """MLflow's token-usage dict and the thought tokens, from a response's usage metadata."""
    if metadata is None:
        return None, None
    get = metadata.get if isinstance(metadata, dict) else lambda k: getattr(metadata, k, None)
    usage = {}
    for source, target in (
        ("prompt_token_count", "input_tokens"),
        ("candidates_token_count", "output_tokens"),
        ("total_token_count", "total_tokens"),
    ):
        if (value := get(source)) is not None:
            usage[target] = int(value)
    thoughts = get("thoughts_token_count")
    return usage or None, int(thoughts) if thoughts is not None else None


class _UsageTotals:
    """A span processor: thought tokens on each span, and each span's usage the sum of its children.

    Processors run as each span ends, children before parents, so a parent finds the sums of its
    children waiting for it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], list[tuple[dict[str, int], int]]] = {}
        self._installed = False

    def install(self) -> None:
        from mlflow.tracing import configure
        from mlflow.tracing.config import get_config

        current = list(get_config().span_processors)
        if self not in current:
            configure(span_processors=[*current, self])
        self._installed = True

    def remove(self) -> None:
        from mlflow.tracing import configure
        from mlflow.tracing.config import get_config

        configure(span_processors=[p for p in get_config().span_processors if p is not self])
        self._installed = False

    def __call__(self, span: Any) -> None:
        usage = span.get_attribute(USAGE_ATTRIBUTE)
        thoughts = span.get_attribute(THOUGHTS_ATTRIBUTE)
        if thoughts is None and usage:
            outputs = span.outputs
            metadata = outputs.get("usage_metadata") if isinstance(outputs, dict) else None
            thoughts = usage_of(metadata)[1]
        with self._lock:
            children = self._pending.pop((span.trace_id, span.span_id), None)
        if usage and children:
            usage = {
                key: sum(child.get(key, 0) for child, _ in children)
                for key in ("input_tokens", "output_tokens", "total_tokens")
            }
            span.set_attribute(USAGE_ATTRIBUTE, usage)
            child_thoughts = sum(t for _, t in children)
            thoughts = child_thoughts or thoughts
        if thoughts:
            span.set_attribute(THOUGHTS_ATTRIBUTE, thoughts)
        if usage and span.parent_id:
            with self._lock:
                self._pending.setdefault((span.trace_id, span.parent_id), []).append(
                    (usage, thoughts or 0)
                )

    @property
    def __name__(self) -> str:  # MLflow names processors in its warnings
        return "gemtrace_usage_totals"


_USAGE = _UsageTotals()
