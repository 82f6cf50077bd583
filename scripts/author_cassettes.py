"""Author the scenario cassettes without a key: ``make author-cassettes``.

This machine cannot reach the Gemini API, so the cassettes in ``cassettes/`` are authored, and say
so (``"source": "authored"``). The responses below are shaped like the real recordings in
``shared/reference/real-gemini-cassettes`` (``candidates``, ``usageMetadata`` with thought tokens,
``modelVersion``, ``responseId``; a ``functionCall`` part carrying a ``thoughtSignature`` and a
``finishMessage``). Their texts are the outputs the tutorial shows.

Requests are never typed by hand: each scenario runs through the real SDK against a stand-in
server on 127.0.0.1, through gemtrace's own recording path, so every request body is exactly what
the SDK sends. The URLs are then rebased on the public API host, and each cassette is replayed once
to check that it reproduces the tutorial's output. ``make record`` with a key replaces these files
with ``"source": "recorded"`` ones.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from google import genai

import gemtrace
from gemtrace import cassette_file
from gemtrace.cassette_file import RecordedResponse
from gemtrace.record import CassetteSession
from gemtrace.scenarios import SCENARIOS, Scenario
from gemtrace.standin import StandIn

API_ORIGIN = "https://generativelanguage.googleapis.com"
MODEL = "gemini-3-flash-preview"
JSON = {"content-type": "application/json; charset=UTF-8"}

EXPECTED_OUTPUT = {
    "simple_generation": ["cold"],
    "multi_turn_chat": [
        "A computer follows instructions, like a recipe, to do things with numbers and pictures.",
        "A computer works by executing a sequence of instructions, called a program, written in a "
        "language it understands. These instructions manipulate binary data (0s and 1s) "
        "representing information, performing calculations, storing and retrieving data from "
        "memory and storage devices, and interacting with input and output devices like the "
        "keyboard, screen, and network to complete tasks.",
    ],
    "function_calling": ["2508"],
}


def _response_id(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:22]


def _thought_signature(seed: str) -> str:
    """Opaque bytes in standard base64, as the API returns them (the SDK echoes base64url)."""
    blob = b"".join(hashlib.sha256(f"{seed}/{i}".encode()).digest() for i in range(8))
    return base64.b64encode(blob).decode()


def _usage(prompt: int, candidates: int, thoughts: int) -> dict[str, Any]:
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
        "thoughtsTokenCount": thoughts,
    }


def _answer(parts: list[dict[str, Any]], usage: dict[str, Any], seed: str, **extra: Any):
    candidate = {"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", **extra}
    candidate["index"] = 0
    body = {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": MODEL,
        "responseId": _response_id(seed),
    }
    return RecordedResponse(status=200, headers=dict(JSON), body=body)


def responses_for(name: str) -> list[RecordedResponse]:
    texts = EXPECTED_OUTPUT[name]
    if name == "simple_generation":
        return [_answer([{"text": texts[0]}], _usage(6, 1, 27), name)]
    if name == "multi_turn_chat":
        return [
            _answer([{"text": texts[0]}], _usage(15, 18, 96), f"{name}/1"),
            _answer([{"text": texts[1]}], _usage(50, 72, 310), f"{name}/2"),
        ]
    if name == "function_calling":
        call = {
            "functionCall": {"name": "multiply", "args": {"a": 57, "b": 44}},
            "thoughtSignature": _thought_signature(name),
        }
        return [
            _answer(
                [call],
                _usage(176, 19, 64),
                f"{name}/1",
                finishMessage="Model generated function call(s).",
            ),
            _answer([{"text": texts[0]}], _usage(290, 4, 0), f"{name}/2"),
        ]
    raise KeyError(name)


def author(scenario: Scenario, target: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch, StandIn(responses_for(scenario.name)) as api:
        draft = Path(scratch) / target.name
        client = genai.Client(
            api_key=os.environ["GEMINI_API_KEY"], http_options={"base_url": api.url}
        )
        session = CassetteSession(
            draft,
            "all",
            source="authored",
            metadata={
                "scenario": scenario.name,
                "description": f"{scenario.title} ({scenario.step}).",
                "note": "Authored offline to the wire format of real Gemini recordings "
                "(scripts/author_cassettes.py); make record replaces it with a live recording.",
            },
        )
        with session:
            outputs = scenario.run(client)
        if outputs != EXPECTED_OUTPUT[scenario.name]:
            raise SystemExit(f"{scenario.name}: authored run printed {outputs!r}")
        cassette = cassette_file.load(draft)
    cassette.rebase(API_ORIGIN)
    cassette_file.save(cassette, target)

    replay_client = genai.Client(api_key="replay-without-key")
    with gemtrace.cassette(target):
        replayed = scenario.run(replay_client)
    if replayed != EXPECTED_OUTPUT[scenario.name]:
        raise SystemExit(f"{scenario.name}: replay printed {replayed!r}")
    print(f"wrote {target} ({len(cassette.interactions)} interactions), replay checked")


def main() -> int:
    # The stand-in accepts any key; this one only exists so that the recorder's key check passes.
    os.environ["GEMINI_API_KEY"] = "stand-in-key-for-authoring"
    os.environ.pop("GOOGLE_API_KEY", None)
    import mlflow

    mlflow.tracing.disable()  # the multi-turn scenario opens a span; nothing is traced here
    for scenario in SCENARIOS:
        author(scenario, scenario.cassette)
    return 0


if __name__ == "__main__":
    sys.exit(main())
