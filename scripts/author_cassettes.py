"""Author the scenario cassettes without a key: ``make author-cassettes``.

This machine cannot reach the Gemini API, so the cassettes in ``cassettes/`` are authored, and say
so (``"source": "authored"``). The responses served are in ``gemtrace.scenarios.authored``, shaped
like the real recordings in ``shared/reference/real-gemini-cassettes``; their texts are the outputs
the tutorial shows.

Requests are never typed by hand: each scenario runs through the real SDK against a stand-in
server on 127.0.0.1, through gemtrace's own recording path, so every request body is exactly what
the SDK sends. The URLs are then rebased on the public API host, and each cassette is replayed once
to check that it reproduces the tutorial's output. ``make record`` with a key replaces these files
with ``"source": "recorded"`` ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from google import genai

import gemtrace
from gemtrace import cassette_file
from gemtrace.record import CassetteSession
from gemtrace.scenarios import SCENARIOS, Scenario
from gemtrace.scenarios.authored import EXPECTED_OUTPUT, responses_for
from gemtrace.standin import StandIn

API_ORIGIN = "https://generativelanguage.googleapis.com"


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


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "haiku_app"


def author_example() -> None:
    """Record examples/haiku_app's cassette through its own tests and the pytest plugin."""
    from gemtrace.scenarios.authored import example_app_responses

    cassette_path = (
        EXAMPLE / "tests" / "cassettes" / "test_haiku_app" / "test_haiku_about_the_sea.json"
    )
    cassette_path.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    with StandIn(example_app_responses()) as api:
        env["GOOGLE_GEMINI_BASE_URL"] = api.url
        recorded = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                str(EXAMPLE),
                "--gemini-record-mode=once",
                "--snapshot-update",
            ],
            env=env,
            capture_output=True,
            text=True,
        )
    if recorded.returncode != 0:
        raise SystemExit(f"recording the example failed:\n{recorded.stdout}{recorded.stderr}")
    cassette = cassette_file.load(cassette_path)
    cassette.rebase(API_ORIGIN)
    cassette_file.save(cassette, cassette_path)
    del env["GOOGLE_GEMINI_BASE_URL"], env["GEMINI_API_KEY"]
    replayed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE)],
        env=env,
        capture_output=True,
        text=True,
    )
    if replayed.returncode != 0:
        raise SystemExit(f"replaying the example failed:\n{replayed.stdout}{replayed.stderr}")
    print(f"wrote {cassette_path}, replay and snapshot checked")


def main() -> int:
    # The stand-in accepts any key; this one only exists so that the recorder's key check passes.
    os.environ["GEMINI_API_KEY"] = "stand-in-key-for-authoring"
    os.environ.pop("GOOGLE_API_KEY", None)
    import mlflow

    mlflow.tracing.disable()  # the multi-turn scenario opens a span; nothing is traced here
    for scenario in SCENARIOS:
        author(scenario, scenario.cassette)
    author_example()
    return 0


if __name__ == "__main__":
    sys.exit(main())
