"""The tutorial's steps, one module each, written as the tutorial writes them.

Each module has a ``run(client) -> list[str]`` that makes the tutorial's SDK calls and returns what
the tutorial prints. Its cassette is ``cassettes/<name>.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from google import genai

from gemtrace.paths import scenario_cassette_dir
from gemtrace.scenarios import (
    api_error,
    async_chat,
    async_generation,
    count_tokens,
    embeddings,
    function_calling,
    multi_turn_chat,
    multimodal,
    simple_generation,
    streaming_generation,
    structured_output,
    thinking,
)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    step: str
    shows: str
    run: Callable[[genai.Client], list[str]]

    @property
    def cassette(self) -> Path:
        return scenario_cassette_dir() / f"{self.name}.json"


EXTRA = "beyond the tutorial"
SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="simple_generation",
        title="Simple generation",
        step="tutorial step 3",
        shows="one LLM span Models.generate_content with the prompt, the answer and token usage",
        run=simple_generation.run,
    ),
    Scenario(
        name="multi_turn_chat",
        title="Multi-turn chat",
        step="tutorial step 4",
        shows="the span multi-turn holding two Chat.send_message spans, each with its model call",
        run=multi_turn_chat.run,
    ),
    Scenario(
        name="function_calling",
        title="Function calling",
        step="tutorial step 5",
        shows="Chat.send_message with the four tool definitions, the multiply(57, 44) call as a "
        "TOOL span, its result sent back, the final answer, and usage summed over both rounds",
        run=function_calling.run,
    ),
    Scenario(
        name="streaming_generation",
        title="Streaming generation",
        step=EXTRA,
        shows="a Models.generate_content_stream span (gemtrace) with the aggregated text, the "
        "chunk count, the final usage and the time to the first chunk",
        run=streaming_generation.run,
    ),
    Scenario(
        name="async_generation",
        title="Async generation, three requests in flight",
        step=EXTRA,
        shows="the span capitals holding three AsyncModels.generate_content spans that overlap",
        run=async_generation.run,
    ),
    Scenario(
        name="async_chat",
        title="Async chat",
        step=EXTRA,
        shows="AsyncChat.send_message, then an AsyncChat.send_message_stream span (gemtrace) "
        "holding its streamed model call",
        run=async_chat.run,
    ),
    Scenario(
        name="structured_output",
        title="Structured output",
        step=EXTRA,
        shows="the response schema in the span inputs and the JSON answer parsed into a model",
        run=structured_output.run,
    ),
    Scenario(
        name="thinking",
        title="System instruction with thinking",
        step=EXTRA,
        shows="the system instruction and thinking config in the inputs, the thought summary in "
        "the outputs, and the thought tokens (gemtrace) beside the usage",
        run=thinking.run,
    ),
    Scenario(
        name="embeddings",
        title="Embeddings",
        step=EXTRA,
        shows="a Models.embed_content span with both sentences and their vectors",
        run=embeddings.run,
    ),
    Scenario(
        name="count_tokens",
        title="Counting tokens",
        step=EXTRA,
        shows="a Models.count_tokens span with the prompt and the count",
        run=count_tokens.run,
    ),
    Scenario(
        name="multimodal",
        title="Multimodal prompt",
        step=EXTRA,
        shows="the inline PNG and the question in the span inputs, and image tokens in the usage",
        run=multimodal.run,
    ),
    Scenario(
        name="api_error",
        title="API error (a mistyped model)",
        step=EXTRA,
        shows="status ERROR with the 404 APIError recorded as an exception event",
        run=api_error.run,
    ),
)


def by_name(names: list[str] | tuple[str, ...]) -> list[Scenario]:
    known = {s.name: s for s in SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown:
        from gemtrace.errors import GemtraceError

        raise GemtraceError(
            f"Unknown scenario {', '.join(map(repr, unknown))}. "
            f"Known scenarios: {', '.join(known)} (gemtrace demo --list)."
        )
    return [known[n] for n in names]
