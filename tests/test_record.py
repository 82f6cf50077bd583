"""Recording through respx, against a stand-in for the Gemini API on 127.0.0.1, over real sockets.

The real SDK sends its requests to the stand-in through the SDK's base-URL override; gemtrace
intercepts them, forwards them through an unpatched transport, and writes what came back.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, subprocess_env
from google import genai
from google.genai import errors as genai_errors
from google.genai import version as genai_version

import gemtrace
from gemtrace import cassette_file
from gemtrace.cassette_file import RecordedResponse
from gemtrace.scenarios import by_name
from gemtrace.scenarios.authored import EXPECTED_OUTPUT, responses_for
from gemtrace.standin import StandIn

MODEL = "gemini-3-flash-preview"
# Shaped like a real Google API key, assembled here so that no key-shaped literal is committed.
FAKE_KEY = "AI" + "za" + "SyD3m0-n0t-a-real-key_0123456789abc"


@pytest.fixture
def key(monkeypatch) -> str:
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    return FAKE_KEY


def text(value: str, usage: int = 3) -> RecordedResponse:
    return RecordedResponse(
        200,
        {"content-type": "application/json; charset=UTF-8"},
        body={
            "candidates": [
                {
                    "content": {"parts": [{"text": value}], "role": "model"},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": usage,
                "candidatesTokenCount": 1,
                "totalTokenCount": usage + 1,
            },
            "modelVersion": MODEL,
            "responseId": "id-" + value,
        },
    )


def client_for(api: StandIn) -> genai.Client:
    return genai.Client(http_options={"base_url": api.url})


def test_record_then_replay_a_tutorial_scenario_with_the_api_gone(tmp_path: Path, key: str) -> None:
    scenario = by_name(["function_calling"])[0]
    path = tmp_path / "function_calling.json"
    with StandIn(responses_for(scenario.name)) as api:
        with gemtrace.cassette(path, mode="once"):
            live = scenario.run(client_for(api))
        seen = api.seen
        base_url = api.url
    assert live == EXPECTED_OUTPUT["function_calling"]
    assert [request.headers["x-goog-api-key"] for request in seen] == [key, key]

    written = path.read_text()
    assert key not in written
    data = json.loads(written)
    # Recorded against a stand-in on this machine, not the live API: honestly "authored".
    assert data["metadata"]["source"] == "authored"
    assert data["metadata"]["models"] == [MODEL]
    assert data["metadata"]["api_version"] == "v1"
    assert data["metadata"]["sdk_version"] == genai_version.__version__
    follow_up = data["interactions"][1]["request"]["body"]
    assert {"functionResponse": {"name": "multiply", "response": {"result": 2508}}} in [
        part for turn in follow_up["contents"] for part in turn["parts"]
    ]

    # The stand-in is gone: replay must answer on its own, through a client aimed at it.
    replay = genai.Client(api_key="replay-without-key", http_options={"base_url": base_url})
    with gemtrace.cassette(path):
        assert scenario.run(replay) == live


def test_streaming_is_passed_on_as_it_streams_and_stored_as_events(
    tmp_path: Path, key: str
) -> None:
    events = [text("one ").body, text("two ").body, text("three").body]
    path = tmp_path / "stream.json"
    with StandIn(
        [RecordedResponse(200, {"content-type": "text/event-stream"}, events=events)]
    ) as api:
        client = client_for(api)
        with gemtrace.cassette(path, mode="all"):
            chunks = [
                c.text for c in client.models.generate_content_stream(model=MODEL, contents="count")
            ]
    assert chunks == ["one ", "two ", "three"]
    stored = json.loads(path.read_text())["interactions"][0]
    assert stored["request"]["url"].endswith(f"/v1/models/{MODEL}:streamGenerateContent?alt=sse")
    assert stored["response"]["events"] == events
    assert stored["response"]["headers"] == {"content-type": "text/event-stream"}

    with gemtrace.cassette(path):
        replayed = [
            c.text for c in client.models.generate_content_stream(model=MODEL, contents="count")
        ]
    assert replayed == chunks


def test_gzip_bodies_are_stored_decoded(tmp_path: Path, key: str) -> None:
    path = tmp_path / "gz.json"
    with StandIn([text("cold")], gzip_json=True) as api:
        client = client_for(api)
        with gemtrace.cassette(path, mode="all"):
            assert client.models.generate_content(model=MODEL, contents="hot").text == "cold"
    stored = json.loads(path.read_text())["interactions"][0]["response"]
    assert stored["body"]["candidates"][0]["content"]["parts"][0]["text"] == "cold"
    assert "content-encoding" not in stored["headers"]


def test_an_api_error_is_recorded_and_replays_as_the_same_api_error(
    tmp_path: Path, key: str
) -> None:
    error_body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": f"Quota exceeded for key {key}.",
        }
    }
    path = tmp_path / "error.json"
    with StandIn(
        [RecordedResponse(429, {"content-type": "application/json"}, body=error_body)]
    ) as api:
        client = client_for(api)
        with gemtrace.cassette(path, mode="all"), pytest.raises(genai_errors.ClientError) as live:
            client.models.generate_content(model=MODEL, contents="hot")
    written = path.read_text()
    assert key not in written
    assert "Quota exceeded for key <redacted>." in written

    with gemtrace.cassette(path), pytest.raises(genai_errors.ClientError) as replayed:
        client.models.generate_content(model=MODEL, contents="hot")
    assert (
        (replayed.value.code, replayed.value.status)
        == (live.value.code, live.value.status)
        == (429, "RESOURCE_EXHAUSTED")
    )


def test_async_requests_are_recorded_too(tmp_path: Path, key: str) -> None:
    path = tmp_path / "async.json"

    async def calls(client: genai.Client) -> list[str]:
        answers = await asyncio.gather(
            client.aio.models.generate_content(model=MODEL, contents="a"),
            client.aio.models.generate_content(model=MODEL, contents="b"),
        )
        return sorted(answer.text for answer in answers)

    with StandIn([text("x"), text("y")]) as api:
        client = client_for(api)
        with gemtrace.cassette(path, mode="all"):
            recorded = asyncio.run(calls(client))
        assert len(api.seen) == 2
    assert recorded == ["x", "y"]
    with gemtrace.cassette(path):
        assert asyncio.run(calls(client)) == recorded


def test_new_episodes_replays_what_matches_and_appends_the_rest(tmp_path: Path, key: str) -> None:
    path = tmp_path / "c.json"
    with StandIn([text("cold")]) as api:
        client = client_for(api)
        with gemtrace.cassette(path, mode="once"):
            client.models.generate_content(model=MODEL, contents="hot")
    with StandIn([text("down")]) as api:
        client = client_for(api)
        with gemtrace.cassette(path, mode="new_episodes") as session:
            assert client.models.generate_content(model=MODEL, contents="hot").text == "cold"
            assert client.models.generate_content(model=MODEL, contents="up").text == "down"
        assert len(api.seen) == 1
    assert (session.replayed, len(session.recorded)) == (1, 1)
    assert len(cassette_file.load(path).interactions) == 2


def test_once_never_touches_an_existing_cassette(tmp_path: Path, key: str) -> None:
    path = tmp_path / "c.json"
    with StandIn([text("cold")]) as api:
        client = client_for(api)
        with gemtrace.cassette(path, mode="once"):
            client.models.generate_content(model=MODEL, contents="hot")
    before = path.read_bytes()
    with StandIn([text("never")]) as api:
        client = client_for(api)
        with gemtrace.cassette(path, mode="once"), pytest.raises(gemtrace.CassetteMiss):
            client.models.generate_content(model=MODEL, contents="other")
        assert api.seen == []
    assert path.read_bytes() == before


def test_a_crash_mid_record_keeps_the_previous_cassette(tmp_path: Path, key: str) -> None:
    path = tmp_path / "c.json"
    with StandIn([text("cold")]) as api:
        client = client_for(api)
        with gemtrace.cassette(path, mode="all"):
            client.models.generate_content(model=MODEL, contents="hot")
    before = path.read_bytes()
    with StandIn([text("warm"), text("boom")]) as api:
        client = client_for(api)
        with pytest.raises(KeyboardInterrupt), gemtrace.cassette(path, mode="all"):
            client.models.generate_content(model=MODEL, contents="hot")
            raise KeyboardInterrupt
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]


def test_recording_without_a_key_stops_before_the_first_request(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with (
        pytest.raises(gemtrace.MissingApiKey) as error,
        gemtrace.cassette(tmp_path / "c.json", mode="all"),
    ):
        pass
    assert "Set GEMINI_API_KEY (or GOOGLE_API_KEY)" in str(error.value)
    assert not (tmp_path / "c.json").exists()


def test_an_unknown_mode_is_refused_with_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(gemtrace.GemtraceError) as error:
        gemtrace.cassette(tmp_path / "c.json", mode="sometimes")
    assert "Unknown record mode 'sometimes'. Valid modes: none, once, new_episodes, all" in str(
        error.value
    )


def test_gemtrace_record_rerecords_every_scenario_the_same_way(tmp_path: Path) -> None:
    """`make record`'s code path, against a stand-in that answers what the committed cassettes say.

    The new files must hold the same interactions as the authored ones (marked "authored" again: the
    stand-in is on loopback, not the live API), without
    the key; and the demo must replay them.
    """
    from gemtrace.cassette_file import RecordedRequest
    from gemtrace.matching import Matcher, key_for
    from gemtrace.scenarios import SCENARIOS

    authored = {
        s.name: cassette_file.load(REPO / "cassettes" / f"{s.name}.json") for s in SCENARIOS
    }
    matcher = Matcher([item for c in authored.values() for item in c.interactions])

    def answer(seen) -> RecordedResponse:
        found = matcher.take(RecordedRequest(seen.method, f"http://stand-in{seen.path}", seen.body))
        assert found is not None, f"the SDK sent a request no cassette holds: {seen.path}"
        return found[1].response

    env = subprocess_env()
    env.update(
        GEMINI_API_KEY=FAKE_KEY,
        GEMTRACE_CASSETTE_DIR=str(tmp_path),
        GEMTRACE_STATE_DIR=str(tmp_path / "state"),
    )
    with StandIn(answer) as api:
        done = subprocess.run(
            [sys.executable, "-m", "gemtrace.cli", "record", "--base-url", api.url],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=180,
        )
        assert {request.headers.get("x-goog-api-key") for request in api.seen} == {FAKE_KEY}
    assert done.returncode == 0, done.stdout + done.stderr
    assert "  2508" in done.stdout
    for name, original in authored.items():
        written = (tmp_path / f"{name}.json").read_text()
        assert FAKE_KEY not in written
        recorded = cassette_file.load(tmp_path / f"{name}.json")
        assert recorded.source == "authored"

        def keys(cassette):
            return sorted(
                key_for(i.request.method, i.request.url, i.request.body)
                for i in cassette.interactions
            )

        assert keys(recorded) == keys(original), name
        assert sorted(
            json.dumps(i.response.body or i.response.events, sort_keys=True)
            for i in recorded.interactions
        ) == sorted(
            json.dumps(i.response.body or i.response.events, sort_keys=True)
            for i in original.interactions
        ), name

    verified = subprocess.run(
        [sys.executable, "-m", "gemtrace.cli", "cassettes", "verify", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert verified.returncode == 0, verified.stderr
    assert f"{len(SCENARIOS)} cassette(s) OK." in verified.stdout
    demo = subprocess.run(
        [sys.executable, "-m", "gemtrace.cli", "demo", "--port", "9"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=180,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert f"All {len(SCENARIOS)} scenarios replayed" in demo.stdout


def test_a_stream_reaches_the_caller_while_it_is_still_streaming(tmp_path: Path, key: str) -> None:
    """The stand-in holds the rest of the stream until the caller has its first chunk."""
    import threading

    gate = threading.Event()
    events = [text("first ").body, text("second").body]
    stream = RecordedResponse(200, {"content-type": "text/event-stream"}, events=events)
    with StandIn([stream], hold_stream=gate) as api:
        client = client_for(api)
        with gemtrace.cassette(tmp_path / "s.json", mode="all"):
            chunks = client.models.generate_content_stream(model=MODEL, contents="go")
            first = next(iter(chunks))
            assert not gate.is_set()
            gate.set()
            rest = [c.text for c in chunks]
    assert [first.text, *rest] == ["first ", "second"]


@pytest.mark.parametrize("backend", ["httpx2", "httpx"])
def test_both_sdk_backends_record(tmp_path: Path, key: str, monkeypatch, backend: str) -> None:
    monkeypatch.setenv("GOOGLE_GENAI_HTTP_CLIENT", backend)
    path = tmp_path / "c.json"
    with StandIn([text("cold")]) as api:
        client = client_for(api)
        with gemtrace.cassette(path, mode="all"):
            assert client.models.generate_content(model=MODEL, contents="hot").text == "cold"
        assert len(api.seen) == 1
    # (With MLflow autolog on, the SDK also sends an empty generationConfig.)
    assert cassette_file.load(path).interactions[0].request.body["contents"] == [
        {"parts": [{"text": "hot"}], "role": "user"}
    ]


def test_user_scrub_rules_redact_json_paths_and_patterns(tmp_path: Path, key: str) -> None:
    path = tmp_path / "c.json"
    rules = gemtrace.ScrubRules(
        json_paths=["candidates.*.content.parts.0.text"], patterns=[r"customer-\d+"]
    )
    with StandIn([text("private answer")]) as api:
        client = client_for(api)
        with gemtrace.cassette(path, mode="all", scrub=rules):
            live = client.models.generate_content(model=MODEL, contents="about customer-4711").text
    assert live == "private answer"
    written = path.read_text()
    assert '"text": "private answer"' not in written and "customer-4711" not in written
    stored = json.loads(written)["interactions"][0]
    assert stored["request"]["body"]["contents"][0]["parts"][0]["text"] == "about <redacted>"
    assert (
        stored["response"]["body"]["candidates"][0]["content"]["parts"][0]["text"] == "<redacted>"
    )


def test_the_scan_after_writing_deletes_a_file_that_still_holds_a_key(
    tmp_path: Path, key: str, monkeypatch
) -> None:
    """If scrubbing ever misses a key, the scan of the written file still stops it."""
    from gemtrace import record

    monkeypatch.setattr(record, "scrub_value", lambda value, rules, secrets: value)
    path = tmp_path / "c.json"
    with StandIn([text(f"echo {key}")]) as api:
        client = client_for(api)
        with pytest.raises(gemtrace.SecretFound) as found, gemtrace.cassette(path, mode="all"):
            client.models.generate_content(model=MODEL, contents="hot")
    assert not path.exists()
    assert "the value of the API key in use" in str(found.value)
    assert "shaped like a Google API key" in str(found.value)
    assert key not in str(found.value)


def test_verify_names_file_interaction_and_field(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    cassette_file.save(cassette_file.Cassette(metadata={"source": "authored"}), good)
    leaky = tmp_path / "leaky.json"
    leaky.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "metadata": {"source": "recorded"},
                "interactions": [
                    {
                        "request": {
                            "method": "POST",
                            "url": f"https://x/v1/models/m:generateContent?key={FAKE_KEY}",
                            "body": None,
                        },
                        "response": {
                            "status": 200,
                            "headers": {"content-type": "application/json", "set-cookie": "a=b"},
                            "body": {},
                        },
                    }
                ],
            },
            indent=2,
        )
    )
    broken = tmp_path / "broken.json"
    broken.write_text(
        '{"schema_version": 1, "metadata": {"source": "authored"}, "interactions": [{}]}'
    )
    env = subprocess_env()
    done = subprocess.run(
        [sys.executable, "-m", "gemtrace.cli", "cassettes", "verify", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert done.returncode == 1, done.stderr
    assert f"{broken}: interaction 0, request must be an object; found missing." in done.stderr
    assert f"{leaky}: line 10: a string shaped like a Google API key (AIza...)" in done.stderr
    assert f"{leaky}: interaction 0, request.url: holds a credential (key=)." in done.stderr
    assert f"{leaky}: interaction 0, response.headers: 'set-cookie' is not kept" in done.stderr
    assert FAKE_KEY not in done.stderr
    assert "4 problem(s) in 3 cassette(s)." in done.stderr

    listed = subprocess.run(
        [sys.executable, "-m", "gemtrace.cli", "cassettes", "list", str(REPO / "cassettes")],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert (
        "function_calling.json  authored  gemini-3-flash-preview  2 interaction(s)" in listed.stdout
    )


def test_only_a_recording_that_reached_no_loopback_address_says_recorded() -> None:
    from gemtrace.cassette_file import Cassette, Interaction, RecordedRequest
    from gemtrace.record import provenance

    def made_against(url: str) -> str:
        item = Interaction(RecordedRequest("POST", url, None), RecordedResponse(200, {}, body={}))
        return provenance(Cassette(interactions=[item]))["source"]

    api = "https://generativelanguage.googleapis.com/v1/models/m:generateContent"
    assert made_against(api) == "recorded"
    assert made_against("http://127.0.0.1:8080/v1/models/m:generateContent") == "authored"
    assert made_against("http://localhost:8080/v1/models/m:generateContent") == "authored"
    assert made_against("http://[::1]:8080/v1/models/m:generateContent") == "authored"


def test_streams_keep_their_pacing_and_replay_it_when_asked(
    tmp_path: Path, key: str, monkeypatch
) -> None:
    import threading

    from gemtrace import wire

    gate = threading.Event()
    events = [text("a").body, text("b").body, text("c").body]
    path = tmp_path / "paced.json"
    stream = RecordedResponse(200, {"content-type": "text/event-stream"}, events=events)
    with StandIn([stream], hold_stream=gate) as api:
        client = client_for(api)
        with gemtrace.cassette(path, mode="all"):
            chunks = client.models.generate_content_stream(model=MODEL, contents="go")
            next(iter(chunks))
            gate.set()
            list(chunks)
    times = cassette_file.load(path).interactions[0].response.event_times_ms
    assert len(times) == 3 and times == sorted(times)

    slept: list[float] = []
    monkeypatch.setattr(wire.time, "sleep", slept.append)
    with gemtrace.cassette(path):
        assert [
            c.text for c in client.models.generate_content_stream(model=MODEL, contents="go")
        ] == ["a", "b", "c"]
    assert slept == []
    with gemtrace.cassette(path, stream_pacing="recorded"):
        assert len(list(client.models.generate_content_stream(model=MODEL, contents="go"))) == 3
    assert slept == [d for d in wire.pacing_delays(times) if d > 0]


def test_a_key_in_header_query_and_error_body_is_written_nowhere(tmp_path: Path) -> None:
    """A program recorded with `gemtrace run`, traced into its own server; then every file the kit
    wrote (cassette, server log, MLflow store and artifacts) is scanned for the key."""
    from conftest import free_port, subprocess_env

    from gemtrace import server

    app = tmp_path / "app.py"
    app.write_text(
        "import os\n"
        "import httpx2\n"
        "from google import genai\n"
        "client = genai.Client()\n"
        f"print(client.models.generate_content(model='{MODEL}', contents='hot').text)\n"
        "try:\n"
        f"    client.models.generate_content(model='{MODEL}', contents='with a bad key')\n"
        "except Exception as error:\n"
        "    print('rejected:', error)\n"
        "with httpx2.Client() as raw:\n"
        "    raw.post(os.environ['GOOGLE_GEMINI_BASE_URL'] + '/v1beta/models/m:countTokens',\n"
        "             params={'key': os.environ['GEMINI_API_KEY']}, json={'contents': []})\n"
    )
    error_body = {
        "error": {
            "code": 400,
            "status": "INVALID_ARGUMENT",
            "message": f"API key {FAKE_KEY} is not valid for this project.",
        }
    }
    echo = RecordedResponse(400, {"content-type": "application/json"}, body=error_body)
    state = tmp_path / "state"
    config = server.ServerConfig(state_dir=state, port=free_port())
    server.start(config)
    try:
        with StandIn([text("cold"), echo, text("count")]) as api:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "gemtrace.cli",
                    "run",
                    "--mode",
                    "all",
                    "--port",
                    str(config.port),
                    "--cassette",
                    str(tmp_path / "app.json"),
                    "--",
                    "python",
                    str(app),
                ],
                capture_output=True,
                text=True,
                cwd=tmp_path,
                timeout=120,
                env=subprocess_env(
                    GEMINI_API_KEY=FAKE_KEY,
                    GOOGLE_GEMINI_BASE_URL=api.url,
                    GEMTRACE_STATE_DIR=str(state),
                ),
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert api.seen[0].headers["x-goog-api-key"] == FAKE_KEY
            assert f"key={FAKE_KEY}" in api.seen[2].path
    finally:
        server.stop(config)
    assert "cold" in done.stdout and "gemtrace run: 2 trace(s)" in done.stdout
    # The echo is redacted before the SDK sees it: neither its exception nor the trace has the key.
    assert "rejected: 400 INVALID_ARGUMENT" in done.stdout and "API key <redacted>" in done.stdout
    assert FAKE_KEY not in done.stdout + done.stderr
    written = (tmp_path / "app.json").read_text()
    assert "key=" not in written and "API key <redacted> is not valid" in written
    scanned = [f for f in tmp_path.rglob("*") if f.is_file() and f != app]
    assert {"app.json", "mlflow.db", "server.log"} <= {f.name for f in scanned}
    for file in scanned:
        assert FAKE_KEY.encode() not in file.read_bytes(), file
