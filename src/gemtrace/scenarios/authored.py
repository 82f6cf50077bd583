"""What the Gemini API answers in each tutorial scenario, as authored for the stand-in server.

Shaped like the real recordings in ``shared/reference/real-gemini-cassettes``: ``candidates``,
``usageMetadata`` with thought tokens, ``modelVersion``, ``responseId``; a ``functionCall`` part
carrying a ``thoughtSignature`` and a ``finishMessage``. The texts are the outputs the tutorial
shows. Used by ``scripts/author_cassettes.py`` and by the recorder's tests.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from gemtrace.cassette_file import RecordedResponse

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
