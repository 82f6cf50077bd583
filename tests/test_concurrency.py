"""Many requests at once from one cassette: each gets its own answer, and every trace arrives."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from conftest import Store
from google import genai

import gemtrace
from gemtrace import cassette_file, tracing
from gemtrace.cassette_file import Cassette, Interaction, RecordedRequest, RecordedResponse

MODEL = "gemini-3-flash-preview"
URL = f"https://generativelanguage.googleapis.com/v1/models/{MODEL}:generateContent"


def question(i: int) -> str:
    return f"What is {i} squared?"


def cassette_of(path: Path, count: int) -> Path:
    interactions = [
        Interaction(
            RecordedRequest(
                "POST", URL, {"contents": [{"parts": [{"text": question(i)}], "role": "user"}]}
            ),
            RecordedResponse(
                200,
                {"content-type": "application/json"},
                body={
                    "candidates": [
                        {
                            "content": {"parts": [{"text": str(i * i)}], "role": "model"},
                            "finishReason": "STOP",
                            "index": 0,
                        }
                    ],
                    "usageMetadata": {
                        "promptTokenCount": 6,
                        "candidatesTokenCount": 1,
                        "totalTokenCount": 7,
                    },
                    "modelVersion": MODEL,
                    "responseId": f"r{i}",
                },
            ),
        )
        for i in range(count)
    ]
    return cassette_file.save(
        Cassette(metadata={"source": "authored"}, interactions=interactions), path
    )


def assert_all_arrived(store: Store, trace_ids: list[str], count: int) -> None:
    import mlflow

    assert len(set(trace_ids)) == count
    tracing.fetch_traces(trace_ids)
    on_server = mlflow.search_traces(
        locations=[store.experiment_id], return_type="list", filter_string=None, max_results=10000
    )
    assert set(trace_ids) <= {t.info.trace_id for t in on_server}


def test_fifty_async_requests_in_flight_each_get_their_own_answer(
    store: Store, tmp_path: Path
) -> None:
    path = cassette_of(tmp_path / "fifty.json", 50)
    client = genai.Client(api_key="replay-without-key")

    async def ask_all() -> list[str]:
        answers = await asyncio.gather(
            *(
                client.aio.models.generate_content(model=MODEL, contents=question(i))
                for i in range(50)
            )
        )
        return [a.text for a in answers]

    with store.collector.capture() as ids, gemtrace.cassette(path):
        answers = asyncio.run(ask_all())
    assert answers == [str(i * i) for i in range(50)]
    assert_all_arrived(store, list(ids), 50)


def test_threads_replaying_from_one_cassette_each_get_their_own_answer(
    store: Store, tmp_path: Path
) -> None:
    path = cassette_of(tmp_path / "threads.json", 40)
    client = genai.Client(api_key="replay-without-key")
    answers: dict[int, str] = {}
    failures: list[BaseException] = []

    def worker(first: int) -> None:
        try:
            for i in range(first, 40, 4):
                answers[i] = client.models.generate_content(model=MODEL, contents=question(i)).text
        except BaseException as error:  # surfaced below: a thread's exception is otherwise lost
            failures.append(error)

    with store.collector.capture() as ids, gemtrace.cassette(path):
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
    assert answers == {i: str(i * i) for i in range(40)}
    assert_all_arrived(store, list(ids), 40)
