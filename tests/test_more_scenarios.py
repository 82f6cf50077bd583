"""Beyond the tutorial: each scenario's trace read back from the server, and gemtrace's extra spans.

Streaming spans, TOOL spans, thought tokens and summed usage come from ``gemtrace.autolog()``;
everything else is MLflow's own autolog, replayed through the real SDK.
"""

from __future__ import annotations

import asyncio
from typing import Any

import mlflow
import pytest
from conftest import Store, replay_traced
from google import genai
from google.genai import _extra_utils, types

import gemtrace
from gemtrace import extras, spantree, tracing
from gemtrace.record import CassetteSession
from gemtrace.scenarios import by_name
from gemtrace.scenarios.authored import (
    CURIE,
    HAIKU,
    PRIME_ANSWER,
    SENTENCES,
    THOUGHT,
    embedding,
)

MODEL = "gemini-3-flash-preview"


def client() -> genai.Client:
    return genai.Client(api_key="replay-without-key")


def run(store: Store, name: str) -> tuple[list[str], spantree.SpanNode]:
    return replay_traced(store, by_name([name])[0], client())


def shape(node: spantree.SpanNode) -> list[Any]:
    return [node.name, node.span_type, [shape(child) for child in node.children]]


def test_streaming_generation_gets_a_span_that_ends_with_the_stream(store: Store) -> None:
    outputs, root = run(store, "streaming_generation")
    assert outputs == ["".join(HAIKU)]
    assert shape(root) == ["Models.generate_content_stream", "LLM", []]
    assert root.status == "OK"
    assert root.inputs == {"model": MODEL, "contents": "Write a haiku about the sea."}
    assert root.outputs == {"text": "".join(HAIKU), "chunks": 3, "finish_reason": "STOP"}
    assert root.attributes["gemtrace.stream.chunks"] == 3
    assert root.attributes["gemtrace.stream.time_to_first_chunk_ms"] >= 0
    assert root.attributes["mlflow.llm.model"] == MODEL
    # The usage of the final chunk, not of the first.
    assert root.token_usage == {"input_tokens": 8, "output_tokens": 19, "total_tokens": 207}
    assert root.attributes["gemtrace.usage.thoughts_tokens"] == 180


def test_async_generation_keeps_three_overlapping_calls_under_one_span(store: Store) -> None:
    outputs, root = run(store, "async_generation")
    assert outputs == ["Paris", "Tokyo", "Nairobi"]
    call = ["AsyncModels.generate_content", "LLM", [["AsyncModels._generate_content", "LLM", []]]]
    assert shape(root) == ["capitals", "UNKNOWN", [call, call, call]]
    answers = {
        child.inputs["contents"]: child.outputs["candidates"][0]["content"]["parts"][0]["text"]
        for child in root.children
    }
    assert answers == {
        "What is the capital of France? One word.": "Paris",
        "What is the capital of Japan? One word.": "Tokyo",
        "What is the capital of Kenya? One word.": "Nairobi",
    }


def test_async_chat_has_a_message_and_a_streamed_message_holding_its_model_call(
    store: Store,
) -> None:
    outputs, root = run(store, "async_chat")
    assert outputs == ["Marie Curie", "".join(CURIE)]
    assert shape(root) == [
        "async-chat",
        "UNKNOWN",
        [
            [
                "AsyncChat.send_message",
                "CHAT_MODEL",
                [
                    [
                        "AsyncModels.generate_content",
                        "LLM",
                        [["AsyncModels._generate_content", "LLM", []]],
                    ]
                ],
            ],
            [
                "AsyncChat.send_message_stream",
                "CHAT_MODEL",
                [["AsyncModels.generate_content_stream", "LLM", []]],
            ],
        ],
    ]
    streamed = root.children[1]
    assert streamed.inputs == {"message": "In one sentence, what is she best known for?"}
    assert streamed.outputs["text"] == "".join(CURIE)
    assert streamed.token_usage == {"input_tokens": 28, "output_tokens": 22, "total_tokens": 105}
    inner = streamed.children[0]
    assert [turn["role"] for turn in inner.inputs["contents"]] == ["user", "model", "user"]


def test_structured_output_shows_the_schema_and_the_json(store: Store) -> None:
    outputs, root = run(store, "structured_output")
    assert outputs == ["Simple Pancakes: 20 min; flour, milk, eggs, butter, sugar"]
    config = root.inputs["config"]
    assert config["response_mime_type"] == "application/json"
    assert "Recipe" in str(config["response_schema"])
    text = root.outputs["candidates"][0]["content"]["parts"][0]["text"]
    assert text.startswith('{"name": "Simple Pancakes"')
    assert root.outputs["parsed"]["minutes"] == 20


def test_thinking_records_the_thought_tokens_autolog_drops(store: Store) -> None:
    outputs, root = run(store, "thinking")
    assert outputs == [PRIME_ANSWER]
    config = root.inputs["config"]
    assert config["system_instruction"] == "You are a concise math tutor. Answer in one sentence."
    assert config["thinking_config"]["include_thoughts"] is True
    parts = root.outputs["candidates"][0]["content"]["parts"]
    assert [(p["thought"], p["text"]) for p in parts] == [(True, THOUGHT), (None, PRIME_ANSWER)]
    assert root.token_usage == {"input_tokens": 22, "output_tokens": 17, "total_tokens": 251}
    assert root.attributes["gemtrace.usage.thoughts_tokens"] == 212
    assert "thinking 212" in spantree.render(root)[0]


def test_embeddings_are_an_embedding_span_with_both_vectors(store: Store) -> None:
    outputs, root = run(store, "embeddings")
    assert len(outputs) == 2
    assert (root.name, root.span_type, root.children) == ("Models.embed_content", "EMBEDDING", [])
    assert root.inputs["contents"] == SENTENCES
    assert [e["values"] for e in root.outputs["embeddings"]] == [embedding(s) for s in SENTENCES]


def test_count_tokens_is_traced_with_its_count(store: Store) -> None:
    outputs, root = run(store, "count_tokens")
    assert outputs == ["14 tokens"]
    assert root.name == "Models.count_tokens"
    assert root.outputs["total_tokens"] == 14


def test_a_multimodal_prompt_carries_the_image(store: Store) -> None:
    outputs, root = run(store, "multimodal")
    assert outputs == ["Red"]
    image, question = root.inputs["contents"]
    assert image["inline_data"]["mime_type"] == "image/png"
    assert question == "What colour is this square? One word."
    assert root.token_usage["input_tokens"] == 266


def test_an_api_error_is_an_error_span_with_the_exception(store: Store) -> None:
    outputs, root = run(store, "api_error")
    assert outputs[0].startswith(
        "APIError 404 NOT_FOUND: models/gemini-3-flash-previw is not found"
    )
    assert [root.status, root.children[0].status] == ["ERROR", "ERROR"]
    (event,) = [e for e in root.events if e["name"] == "exception"]
    assert event["attributes"]["exception.type"] == "ClientError"
    assert "404 NOT_FOUND" in event["attributes"]["exception.message"]


def test_extras_change_nothing_the_sdk_returns(store: Store) -> None:
    scenario = by_name(["streaming_generation"])[0]

    replay = client()

    def chunks() -> list[str]:
        with CassetteSession(scenario.cassette, "none"):
            return [
                c.model_dump_json()
                for c in replay.models.generate_content_stream(
                    model=MODEL, contents="Write a haiku about the sea."
                )
            ]

    with_extras = chunks()
    gemtrace.autolog(disable=True)
    try:
        without = chunks()
    finally:
        gemtrace.autolog()
    assert with_extras == without


def test_extras_work_with_mlflow_autolog_switched_off(store: Store) -> None:
    mlflow.gemini.autolog(disable=True)
    try:
        _, stream = run(store, "streaming_generation")
        scenario = by_name(["function_calling"])[0]
        with store.collector.capture() as ids, CassetteSession(scenario.cassette, "none"):
            assert scenario.run(client()) == ["2508"]
    finally:
        mlflow.gemini.autolog()
    assert stream.name == "Models.generate_content_stream"
    (trace,) = tracing.fetch_traces(ids)
    root = spantree.build(trace)
    assert (root.name, root.span_type, root.inputs, root.outputs) == (
        "multiply",
        "TOOL",
        {"a": 57, "b": 44},
        2508,
    )


def test_a_failing_tool_is_a_tool_span_with_the_error(store: Store, tmp_path) -> None:
    """divide(1, 0) raises; the SDK sends the error back to the model, and the span keeps it."""
    from gemtrace.scenarios import function_calling

    with store.collector.capture() as ids, mlflow.start_span(name="tools"):
        parts = _extra_utils.get_function_response_parts(
            types.GenerateContentResponse.model_validate(
                {
                    "candidates": [
                        {
                            "content": {
                                "role": "model",
                                "parts": [
                                    {"function_call": {"name": "divide", "args": {"a": 1, "b": 0}}}
                                ],
                            }
                        }
                    ]
                }
            ),
            {"divide": function_calling.divide},
        )
    assert "division by zero" in parts[0].function_response.response["error"]
    (trace,) = tracing.fetch_traces(ids)
    tool = spantree.build(trace).children[0]
    assert (tool.name, tool.span_type, tool.status) == ("divide", "TOOL", "ERROR")
    assert "division by zero" in tool.outputs["error"]
    assert spantree.label(tool).startswith('divide(a=1, b=0) -> {"error"')


def test_each_stream_is_traced_once(store: Store) -> None:
    """No double tracing: one span per stream call, even with both autologs on."""
    assert extras.enabled()
    _, root = run(store, "async_chat")
    names = [node.name for node in root.walk()]
    assert names.count("AsyncChat.send_message_stream") == 1
    assert names.count("AsyncModels.generate_content_stream") == 1


def test_a_stream_abandoned_early_still_ends_its_span(store: Store) -> None:
    scenario = by_name(["streaming_generation"])[0]
    replay = client()
    with store.collector.capture() as ids, CassetteSession(scenario.cassette, "none"):
        stream = replay.models.generate_content_stream(
            model=MODEL, contents="Write a haiku about the sea."
        )
        first = next(iter(stream))
        stream.close()
    assert first.text == HAIKU[0]
    (trace,) = tracing.fetch_traces(ids)
    root = spantree.build(trace)
    assert root.outputs == {"text": HAIKU[0], "chunks": 1}
    assert root.status == "OK"


def test_async_streams_from_several_loops_are_traced(store: Store) -> None:
    scenario = by_name(["streaming_generation"])[0]
    aio = client().aio

    async def stream_once() -> str:
        stream = await aio.models.generate_content_stream(
            model=MODEL, contents="Write a haiku about the sea."
        )
        return "".join([chunk.text async for chunk in stream])

    with store.collector.capture() as ids, CassetteSession(scenario.cassette, "none"):
        assert asyncio.run(stream_once()) == "".join(HAIKU)
    (trace,) = tracing.fetch_traces(ids)
    assert spantree.build(trace).name == "AsyncModels.generate_content_stream"


@pytest.mark.parametrize(
    "name", ["streaming_generation", "async_generation", "async_chat", "thinking"]
)
def test_two_replays_give_the_same_trace(store: Store, name: str) -> None:
    _, first = run(store, name)
    _, second = run(store, name)
    assert spantree.normalised(first) == spantree.normalised(second)
