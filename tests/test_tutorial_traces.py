"""The tutorial's three steps, replayed from their cassettes and read back from a real MLflow server.

Each test checks what a workshop participant looks for in the UI: the span tree, span types, the
model, token usage, status, and the tutorial's printed output.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Store, replay_traced
from google import genai

from gemtrace import spantree
from gemtrace.scenarios import by_name

MODEL = "gemini-3-flash-preview"
CHAT_ANSWERS = [
    "A computer follows instructions, like a recipe, to do things with numbers and pictures.",
    "A computer works by executing a sequence of instructions, called a program, written in a "
    "language it understands. These instructions manipulate binary data (0s and 1s) representing "
    "information, performing calculations, storing and retrieving data from memory and storage "
    "devices, and interacting with input and output devices like the keyboard, screen, and "
    "network to complete tasks.",
]


def client() -> genai.Client:
    return genai.Client(api_key="replay-without-key")


def tree_shape(node: spantree.SpanNode) -> list[Any]:
    return [node.name, node.span_type, [tree_shape(child) for child in node.children]]


def answer_text(outputs: dict[str, Any]) -> str:
    return "".join(p.get("text") or "" for p in outputs["candidates"][0]["content"]["parts"])


def test_simple_generation_prints_cold_and_traces_one_llm_call(store: Store) -> None:
    outputs, root = replay_traced(store, by_name(["simple_generation"])[0], client())

    assert outputs == ["cold"]
    assert tree_shape(root) == [
        "Models.generate_content",
        "LLM",
        [["Models._generate_content", "LLM", []]],
    ]
    assert root.status == "OK"
    assert root.inputs == {"model": MODEL, "contents": "The opposite of hot is"}
    assert answer_text(root.outputs) == "cold"
    assert root.attributes["mlflow.llm.model"] == MODEL
    assert root.token_usage == {"input_tokens": 6, "output_tokens": 1, "total_tokens": 34}


def test_multi_turn_chat_nests_two_messages_under_the_named_span(store: Store) -> None:
    outputs, root = replay_traced(store, by_name(["multi_turn_chat"])[0], client())

    assert outputs == CHAT_ANSWERS
    message = [
        "Chat.send_message",
        "CHAT_MODEL",
        [["Models.generate_content", "LLM", [["Models._generate_content", "LLM", []]]]],
    ]
    assert tree_shape(root) == ["multi-turn", "UNKNOWN", [message, message]]
    first, second = root.children
    assert first.inputs == {
        "message": "In one sentence, explain how a computer works to a young child."
    }
    assert second.inputs == {
        "message": "Okay, how about a more detailed explanation to a high schooler?"
    }
    assert [answer_text(first.outputs), answer_text(second.outputs)] == CHAT_ANSWERS
    # The second turn sends the whole history: both user messages and the first answer.
    history = second.children[0].inputs["contents"]
    assert [turn["role"] for turn in history] == ["user", "model", "user"]
    assert history[1]["parts"][0]["text"] == CHAT_ANSWERS[0]
    assert all(node.status == "OK" for node in root.walk())
    assert first.token_usage == {"input_tokens": 15, "output_tokens": 18, "total_tokens": 129}
    assert second.token_usage == {"input_tokens": 50, "output_tokens": 72, "total_tokens": 432}


def test_function_calling_shows_tools_the_multiply_call_and_2508(store: Store) -> None:
    outputs, root = replay_traced(store, by_name(["function_calling"])[0], client())

    assert outputs == ["2508"]
    assert root.name == "Chat.send_message"
    assert root.span_type == "CHAT_MODEL"
    assert root.inputs == {
        "message": "I have 57 cats, each owns 44 mittens, how many mittens is that in total?"
    }
    assert answer_text(root.outputs) == "2508"
    asks, tool, follows_up = root.children
    assert [asks.name, follows_up.name] == ["Models.generate_content"] * 2
    # gemtrace's TOOL span: the function ran between the two model calls.
    assert (tool.name, tool.span_type, tool.status) == ("multiply", "TOOL", "OK")
    assert (tool.inputs, tool.outputs) == ({"a": 57, "b": 44}, 2508)
    assert spantree.label(tool) == "multiply(a=57, b=44) -> 2508"

    tools = asks.attributes["mlflow.chat.tools"]
    assert [tool["function"]["name"] for tool in tools] == ["add", "subtract", "multiply", "divide"]
    assert tools[2]["function"]["description"] == "returns a * b."
    assert set(tools[2]["function"]["parameters"]["properties"]) == {"a", "b"}

    call = asks.outputs["candidates"][0]["content"]["parts"][0]["function_call"]
    assert call["name"] == "multiply"
    assert call["args"] == {"a": 57, "b": 44}

    sent_back = [
        part["function_response"]
        for turn in follows_up.inputs["contents"]
        for part in turn["parts"]
        if part.get("function_response")
    ]
    assert sent_back == [{**sent_back[0], "name": "multiply", "response": {"result": 2508}}]
    assert answer_text(follows_up.outputs) == "2508"
    assert asks.token_usage == {"input_tokens": 176, "output_tokens": 19, "total_tokens": 259}
    assert follows_up.token_usage == {"input_tokens": 290, "output_tokens": 4, "total_tokens": 294}
    # Autolog alone reports only the last round on the chat span; gemtrace sums both rounds.
    assert root.token_usage == {"input_tokens": 466, "output_tokens": 23, "total_tokens": 553}
    assert root.attributes["gemtrace.usage.thoughts_tokens"] == 64
    assert all(node.status == "OK" for node in root.walk())


@pytest.mark.parametrize("name", ["simple_generation", "multi_turn_chat", "function_calling"])
def test_two_replays_give_the_same_trace_but_for_ids_and_times(store: Store, name: str) -> None:
    scenario = by_name([name])[0]
    _, first = replay_traced(store, scenario, client())
    _, second = replay_traced(store, scenario, client())
    assert spantree.normalised(first) == spantree.normalised(second)


def test_the_httpx_backend_replays_the_same_trace(store: Store, monkeypatch) -> None:
    scenario = by_name(["function_calling"])[0]
    _, default_backend = replay_traced(store, scenario, client())
    monkeypatch.setenv("GOOGLE_GENAI_HTTP_CLIENT", "httpx")
    httpx_client = client()
    assert type(httpx_client._api_client._httpx_client).__module__.startswith("google.genai")
    assert "httpx2" not in type(httpx_client._api_client._httpx_client).__mro__[1].__module__
    _, httpx_backend = replay_traced(store, scenario, httpx_client)
    assert spantree.normalised(default_backend) == spantree.normalised(httpx_backend)


@pytest.mark.parametrize("name", ["simple_generation", "multi_turn_chat", "function_calling"])
def test_a_recorded_run_and_its_replay_give_the_same_output_and_trace(
    store: Store, tmp_path, monkeypatch, name: str
) -> None:
    """Record against the stand-in with tracing on, stop it, replay: the same trace comes back."""
    import gemtrace
    from gemtrace import tracing
    from gemtrace.scenarios.authored import responses_for
    from gemtrace.standin import StandIn

    monkeypatch.setenv("GEMINI_API_KEY", "stand-in-key-not-a-secret")
    scenario = by_name([name])[0]
    path = tmp_path / f"{name}.json"
    with StandIn(responses_for(name)) as api:
        live_client = genai.Client(http_options={"base_url": api.url})
        with store.collector.capture() as live_ids, gemtrace.cassette(path, mode="once"):
            live_output = scenario.run(live_client)
        assert api.seen, "the live run reached the stand-in"
    with store.collector.capture() as replay_ids, gemtrace.cassette(path):
        replay_output = scenario.run(live_client)
    (live,), (replayed,) = tracing.fetch_traces(live_ids), tracing.fetch_traces(replay_ids)
    assert replay_output == live_output
    assert spantree.normalised(spantree.build(live)) == spantree.normalised(
        spantree.build(replayed)
    )
