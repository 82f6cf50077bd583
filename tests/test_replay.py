"""The replay engine, with the real SDK: both HTTP backends, sync, async, streaming, and misses.

Every client here points its base URL at a loopback ``sentinel`` server: a request that escaped
the cassette would reach it, so ``sentinel.seen == []`` proves that none did.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from google import genai
from google.genai import _api_client

import gemtrace
from gemtrace import cassette_file
from gemtrace.cassette_file import Cassette, Interaction, RecordedRequest, RecordedResponse
from gemtrace.standin import StandIn

MODEL = "gemini-3-flash-preview"
API = "https://generativelanguage.googleapis.com"


def answer(text: str) -> dict:
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": text}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 1, "totalTokenCount": 5},
        "modelVersion": MODEL,
        "responseId": "r-" + text,
    }


def ask(prompt: str) -> dict:
    return {"contents": [{"parts": [{"text": prompt}], "role": "user"}]}


def make_cassette(
    path: Path,
    *pairs: tuple[str, str],
    stream_events: list[str] | None = None,
    version: str = "v1beta",
) -> Path:
    interactions = [
        Interaction(
            RecordedRequest("POST", f"{API}/{version}/models/{MODEL}:generateContent", ask(prompt)),
            RecordedResponse(
                200, {"content-type": "application/json; charset=UTF-8"}, body=answer(text)
            ),
        )
        for prompt, text in pairs
    ]
    if stream_events is not None:
        interactions.append(
            Interaction(
                RecordedRequest(
                    "POST",
                    f"{API}/{version}/models/{MODEL}:streamGenerateContent?alt=sse",
                    ask("stream"),
                ),
                RecordedResponse(
                    200,
                    {"content-type": "text/event-stream"},
                    events=[answer(t) for t in stream_events],
                ),
            )
        )
    cassette_file.save(Cassette(metadata={"source": "authored"}, interactions=interactions), path)
    return path


@pytest.fixture(params=["httpx2", "httpx"])
def backend(request, monkeypatch) -> str:
    monkeypatch.setenv("GOOGLE_GENAI_HTTP_CLIENT", request.param)
    return request.param


def client_for(sentinel: StandIn) -> genai.Client:
    return genai.Client(api_key="replay-without-key", http_options={"base_url": sentinel.url})


def test_sync_async_and_streaming_calls_replay_without_touching_the_network(
    tmp_path: Path, sentinel: StandIn, backend: str
) -> None:
    path = make_cassette(
        tmp_path / "c.json",
        ("hot", "cold"),
        ("up", "down"),
        stream_events=["one ", "two ", "three"],
    )
    client = client_for(sentinel)
    assert _api_client.has_aiohttp, "aiohttp is importable here, so async would escape respx"

    async def async_calls() -> list[str]:
        first = await client.aio.models.generate_content(model=MODEL, contents="up")
        stream = await client.aio.models.generate_content_stream(model=MODEL, contents="stream")
        return [first.text, "".join([chunk.text async for chunk in stream])]

    with gemtrace.cassette(path):
        sync_text = client.models.generate_content(model=MODEL, contents="hot").text
        async_texts = asyncio.run(async_calls())

    assert sync_text == "cold"
    assert async_texts == ["down", "one two three"]
    assert sentinel.seen == []
    assert _api_client.has_aiohttp, "the SDK's aiohttp switch is restored after the block"


def test_a_stream_arrives_as_separate_chunks(
    tmp_path: Path, sentinel: StandIn, backend: str
) -> None:
    path = make_cassette(tmp_path / "c.json", stream_events=["a", "b", "c"])
    client = client_for(sentinel)
    with gemtrace.cassette(path):
        chunks = [
            c.text for c in client.models.generate_content_stream(model=MODEL, contents="stream")
        ]
    assert chunks == ["a", "b", "c"]
    assert sentinel.seen == []


def test_identical_requests_get_their_answers_in_recorded_order(tmp_path: Path, sentinel) -> None:
    path = make_cassette(tmp_path / "c.json", ("roll", "4"), ("roll", "2"), ("roll", "6"))
    client = client_for(sentinel)
    with gemtrace.cassette(path):
        rolls = [
            client.models.generate_content(model=MODEL, contents="roll").text for _ in range(3)
        ]
        with pytest.raises(gemtrace.CassetteMiss) as missed:
            client.models.generate_content(model=MODEL, contents="roll")
    assert rolls == ["4", "2", "6"]
    assert "recorded 3 time(s) and every recorded answer has been used" in str(missed.value)


def test_a_cassette_from_v1beta_answers_the_sdk_on_v1(tmp_path: Path, sentinel) -> None:
    path = make_cassette(tmp_path / "c.json", ("hot", "cold"), version="v1beta")
    client = client_for(sentinel)
    assert client._api_client._http_options.api_version == "v1"
    with gemtrace.cassette(path):
        assert client.models.generate_content(model=MODEL, contents="hot").text == "cold"


def test_a_client_created_before_the_block_is_intercepted_too(tmp_path: Path, sentinel) -> None:
    client = client_for(sentinel)
    path = make_cassette(tmp_path / "c.json", ("hot", "cold"))
    with gemtrace.cassette(path):
        assert client.models.generate_content(model=MODEL, contents="hot").text == "cold"
    assert sentinel.seen == []


def test_an_unmatched_request_names_cassette_request_closest_and_how_to_record(
    tmp_path: Path, sentinel: StandIn
) -> None:
    path = make_cassette(tmp_path / "tutorial.json", ("The opposite of hot is", "cold"))
    client = client_for(sentinel)
    with gemtrace.cassette(path), pytest.raises(gemtrace.CassetteMiss) as missed:
        client.models.generate_content(model=MODEL, contents="The opposite of up is")
    message = str(missed.value)
    assert str(path) in message
    assert f"POST /models/{MODEL}:generateContent" in message
    assert f"(model {MODEL})" in message
    assert "Closest recorded request: interaction 0" in message
    assert '-          "text": "The opposite of hot is"' in message
    assert '+          "text": "The opposite of up is"' in message
    assert "gemtrace record --mode new_episodes" in message
    assert sentinel.seen == []


def test_an_unmatched_async_request_raises_the_same_miss(tmp_path: Path, sentinel) -> None:
    path = make_cassette(tmp_path / "c.json", ("hot", "cold"))
    client = client_for(sentinel)

    async def call() -> None:
        await client.aio.models.generate_content(model=MODEL, contents="wet")

    with gemtrace.cassette(path), pytest.raises(gemtrace.CassetteMiss):
        asyncio.run(call())
    assert sentinel.seen == []


def test_a_missing_cassette_says_how_to_record_it(tmp_path: Path) -> None:
    with (
        pytest.raises(gemtrace.CassetteNotFound) as missing,
        gemtrace.cassette(tmp_path / "nope.json"),
    ):
        pass
    assert "nope.json: no such cassette" in str(missing.value)
    assert "GEMINI_API_KEY" in str(missing.value)
    assert "mode='once'" in str(missing.value)


def test_decorator_and_async_context_manager(tmp_path: Path, sentinel: StandIn) -> None:
    path = make_cassette(tmp_path / "c.json", ("hot", "cold"), ("up", "down"))
    client = client_for(sentinel)

    @gemtrace.cassette(path)
    def sync_call() -> str:
        return client.models.generate_content(model=MODEL, contents="hot").text

    async def async_call() -> str:
        async with gemtrace.cassette(path):
            return (await client.aio.models.generate_content(model=MODEL, contents="up")).text

    assert sync_call() == "cold"
    assert asyncio.run(async_call()) == "down"
    assert sentinel.seen == []


def test_outside_the_block_requests_are_not_intercepted(tmp_path: Path) -> None:
    """The sentinel answers once the cassette block is over: the patching is really undone."""
    path = make_cassette(tmp_path / "c.json", ("hot", "cold"))
    with StandIn([RecordedResponse(200, {}, body=answer("live"))]) as live:
        client = client_for(live)
        with gemtrace.cassette(path):
            client.models.generate_content(model=MODEL, contents="hot")
        assert client.models.generate_content(model=MODEL, contents="hot").text == "live"
    assert len(live.seen) == 1


def test_the_scenario_cassettes_are_authored_and_hold_no_headers() -> None:
    from conftest import CASSETTES

    for path in sorted(CASSETTES.glob("*.json")):
        data = json.loads(path.read_text())
        assert data["metadata"]["source"] == "authored", path
        for item in data["interactions"]:
            assert "headers" not in item["request"], path
            assert set(item["response"]["headers"]) <= {"content-type"}, path


def test_ctrl_c_during_replay_leaves_the_cassette_as_it_was(tmp_path: Path, sentinel) -> None:
    path = make_cassette(tmp_path / "c.json", ("hot", "cold"), ("up", "down"))
    before = path.read_bytes()
    client = client_for(sentinel)
    with pytest.raises(KeyboardInterrupt), gemtrace.cassette(path):
        client.models.generate_content(model=MODEL, contents="hot")
        raise KeyboardInterrupt
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]


def test_match_ignore_leaves_a_volatile_field_out_of_matching(tmp_path: Path, sentinel) -> None:
    path = make_cassette(tmp_path / "c.json", ("Today is 2026-12-04. Plan my day.", "Rest."))
    client = client_for(sentinel)
    with pytest.raises(gemtrace.CassetteMiss), gemtrace.cassette(path):
        client.models.generate_content(model=MODEL, contents="Today is 2026-12-05. Plan my day.")
    with gemtrace.cassette(path, match_ignore=["contents.0.parts.0.text"]):
        answer = client.models.generate_content(
            model=MODEL, contents="Today is 2026-12-05. Plan my day."
        )
    assert answer.text == "Rest."
    assert sentinel.seen == []
