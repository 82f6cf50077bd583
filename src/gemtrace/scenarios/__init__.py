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
from gemtrace.scenarios import function_calling, multi_turn_chat, simple_generation


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
        shows="Chat.send_message with the four tool definitions, the multiply(57, 44) call "
        "and its result sent back, and the final answer",
        run=function_calling.run,
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
