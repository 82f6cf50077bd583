"""What the Gemini API answers in each tutorial scenario, as authored for the stand-in server.

Shaped like the real recordings in ``shared/reference/real-gemini-cassettes``: ``candidates``,
``usageMetadata`` with thought tokens, ``modelVersion``, ``responseId``; a ``functionCall`` part
carrying a ``thoughtSignature`` and a ``finishMessage``. The texts are the outputs the tutorial
shows. Used by ``scripts/author_cassettes.py`` and by the recorder's tests.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

from gemtrace.cassette_file import RecordedResponse

MODEL = "gemini-3-flash-preview"
JSON = {"content-type": "application/json; charset=UTF-8"}

HAIKU = ["Waves fold into fo", "am,\nsalt wind carries gull voi", "ces,\nthe tide keeps its time."]
CURIE = [
    "She is best known for her pioneering research on radio",
    "activity, which won her Nobel Prizes in both physics and chemistry.",
]
CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Kenya": "Nairobi"}
RECIPE = '{"name": "Simple Pancakes", "minutes": 20, "ingredients": ["flour", "milk", "eggs", "butter", "sugar"]}'
THOUGHT = (
    "**Checking divisibility of 1001**\n\nTrying small primes: 1001 / 7 = 143, and 143 = 11 x 13, "
    "so 1001 has factors other than 1 and itself."
)
PRIME_ANSWER = "No, 1001 is not prime: it equals 7 × 11 × 13."
SENTENCES = ["The cat sat on the mat.", "A feline rested on the rug."]
NOT_FOUND_MESSAGE = (
    "models/gemini-3-flash-previw is not found for API version v1, or is not supported for "
    "generateContent. Call ListModels to see the list of available models and their supported "
    "methods."
)


def embedding(text: str, dimensions: int = 8) -> list[float]:
    """Deterministic stand-in vectors: the real ones are model output we cannot fetch here."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round((byte - 128) / 640, 6) for byte in digest[:dimensions]]


def _embedding_line(values: list[float]) -> str:
    return f"{len(values)} dimensions: " + ", ".join(f"{v:.3f}" for v in values[:3]) + ", ..."


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
    "streaming_generation": ["".join(HAIKU)],
    "async_generation": ["Paris", "Tokyo", "Nairobi"],
    "async_chat": ["Marie Curie", "".join(CURIE)],
    "structured_output": ["Simple Pancakes: 20 min; flour, milk, eggs, butter, sugar"],
    "thinking": [PRIME_ANSWER],
    "embeddings": [_embedding_line(embedding(s)) for s in SENTENCES],
    "count_tokens": ["14 tokens"],
    "multimodal": ["Red"],
    "api_error": [f"APIError 404 NOT_FOUND: {NOT_FOUND_MESSAGE}"],
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


def _stream(texts: list[str], usage: list[dict[str, Any]], seed: str) -> RecordedResponse:
    """SSE events as the API sends them: every event repeats usage, model version and id."""
    events = []
    for number, (text, used) in enumerate(zip(texts, usage, strict=True)):
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
        if number == len(texts) - 1:
            candidate["finishReason"] = "STOP"
        candidate["index"] = 0
        events.append(
            {
                "candidates": [candidate],
                "usageMetadata": used,
                "modelVersion": MODEL,
                "responseId": _response_id(seed),
            }
        )
    return RecordedResponse(
        status=200, headers={"content-type": "text/event-stream"}, events=events
    )


def _function_calling(name: str) -> list[RecordedResponse]:
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
        _answer([{"text": "2508"}], _usage(290, 4, 0), f"{name}/2"),
    ]


def _capital(seen: Any) -> RecordedResponse:
    question = seen.body["contents"][0]["parts"][0]["text"]
    country = next(c for c in CAPITALS if c in question)
    return _answer([{"text": CAPITALS[country]}], _usage(12, 1, 21), f"capital/{country}")


def _embeddings() -> list[RecordedResponse]:
    body = {"embeddings": [{"values": embedding(s)} for s in SENTENCES]}
    return [RecordedResponse(status=200, headers=dict(JSON), body=body)]


def _model_not_found() -> list[RecordedResponse]:
    body = {"error": {"code": 404, "message": NOT_FOUND_MESSAGE, "status": "NOT_FOUND"}}
    return [RecordedResponse(status=404, headers=dict(JSON), body=body)]


def responses_for(name: str) -> list[RecordedResponse] | Callable[[Any], RecordedResponse]:
    """The stand-in's answers for a scenario: a list in order, or a function for concurrent calls."""
    texts = EXPECTED_OUTPUT[name]
    builders: dict[str, Callable[[], Any]] = {
        "simple_generation": lambda: [_answer([{"text": texts[0]}], _usage(6, 1, 27), name)],
        "multi_turn_chat": lambda: [
            _answer([{"text": texts[0]}], _usage(15, 18, 96), f"{name}/1"),
            _answer([{"text": texts[1]}], _usage(50, 72, 310), f"{name}/2"),
        ],
        "function_calling": lambda: _function_calling(name),
        "streaming_generation": lambda: [
            _stream(HAIKU, [_usage(8, 5, 180), _usage(8, 12, 180), _usage(8, 19, 180)], name)
        ],
        "async_generation": lambda: _capital,
        "async_chat": lambda: [
            _answer([{"text": texts[0]}], _usage(11, 3, 40), f"{name}/1"),
            _stream(CURIE, [_usage(28, 10, 55), _usage(28, 22, 55)], f"{name}/2"),
        ],
        "structured_output": lambda: [_answer([{"text": RECIPE}], _usage(9, 31, 120), name)],
        "thinking": lambda: [
            _answer(
                [{"text": THOUGHT, "thought": True}, {"text": PRIME_ANSWER}],
                _usage(22, 17, 212),
                name,
            )
        ],
        "embeddings": _embeddings,
        "count_tokens": lambda: [
            RecordedResponse(
                status=200,
                headers=dict(JSON),
                body={
                    "totalTokens": 14,
                    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 14}],
                },
            )
        ],
        "multimodal": lambda: [
            _answer(
                [{"text": "Red"}],
                {
                    "promptTokenCount": 266,
                    "candidatesTokenCount": 1,
                    "totalTokenCount": 290,
                    "promptTokensDetails": [
                        {"modality": "TEXT", "tokenCount": 8},
                        {"modality": "IMAGE", "tokenCount": 258},
                    ],
                    "thoughtsTokenCount": 23,
                },
                name,
            )
        ],
        "api_error": _model_not_found,
    }
    return builders[name]()


EXAMPLE_HAIKU = "Waves fold into foam,\nsalt wind carries gull voices,\nthe tide keeps its time."


def example_app_responses() -> list[RecordedResponse]:
    """The stand-in's answers for examples/haiku_app: three tool calls, then the haiku."""
    lines = [line.rstrip(",.") for line in EXAMPLE_HAIKU.splitlines()]
    calls = [
        {"functionCall": {"name": "count_syllables", "args": {"line": line}}} for line in lines
    ]
    calls[0]["thoughtSignature"] = _thought_signature("haiku_app")
    return [
        _answer(
            calls,
            _usage(74, 41, 150),
            "haiku_app/1",
            finishMessage="Model generated function call(s).",
        ),
        _answer([{"text": EXAMPLE_HAIKU}], _usage(160, 17, 0), "haiku_app/2"),
    ]
