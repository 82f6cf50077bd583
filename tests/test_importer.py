"""Importing vcrpy / pytest-recording cassettes: the real recordings in shared/reference.

They are read from there (never copied into the repository); each converts, verifies, and replays
through the SDK, request by request.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, subprocess_env
from google import genai

import gemtrace
from gemtrace import cassette_file
from gemtrace.importer import import_vcr
from gemtrace.verify import check

REFERENCE = REPO.parent / "shared" / "reference" / "real-gemini-cassettes"
FILES = sorted(REFERENCE.glob("*.yaml"))


def test_the_reference_recordings_are_there() -> None:
    assert len(FILES) == 4, f"expected the four reference recordings in {REFERENCE}"


@pytest.mark.parametrize("source", FILES, ids=lambda p: p.stem.split("__")[0])
def test_each_reference_converts_verifies_and_replays_through_the_sdk(
    source: Path, tmp_path: Path
) -> None:
    cassette = import_vcr(source)
    target = cassette_file.save(cassette, tmp_path / f"{source.stem}.json")
    assert check(target) == []
    text = target.read_text()
    assert "x-goog-api-key" not in text.lower() and "DUMMY_GOOGLE_API_KEY" not in text
    assert cassette.metadata["source"] == "imported"

    client = genai.Client(api_key="replay-without-key")
    api = client._api_client
    with gemtrace.cassette(target):
        for item in cassette.interactions:
            path = item.request.url.split("/", 4)[4]  # after https://host/<version>/
            if item.response.is_stream:
                replayed = [
                    json.loads(chunk.body)
                    for chunk in api.request_streamed(
                        item.request.method.lower(), path, item.request.body
                    )
                ]
                assert replayed == item.response.events
            else:
                response = api.request(item.request.method.lower(), path, item.request.body)
                assert json.loads(response.body) == item.response.body


def test_gzip_bodies_become_readable_and_the_sdk_gets_the_same_answer(tmp_path: Path) -> None:
    source = REFERENCE / "openllmetry__test_client_spans.yaml"
    assert "!!binary" in source.read_text()
    target = cassette_file.save(import_vcr(source), tmp_path / "c.json")
    assert "AI stands for **Artificial Intelligence**" in target.read_text()
    client = genai.Client(api_key="x")  # held: a client garbage-collected mid-call closes its pool
    with gemtrace.cassette(target):
        answer = client.models.generate_content(model="gemini-2.5-flash", contents="What is ai?")
    assert answer.text.startswith("AI stands for **Artificial Intelligence**.")


def test_sse_bodies_become_events(tmp_path: Path) -> None:
    source = REFERENCE / "pydantic-ai__test_google_stream_usage_is_live_mid_stream.yaml"
    (item,) = import_vcr(source).interactions
    assert [e["usageMetadata"]["candidatesTokenCount"] for e in item.response.events] == [
        31,
        79,
        80,
    ]


def test_bad_input_names_file_and_place(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("interactions:\n- request: [unclosed\n")
    with pytest.raises(
        gemtrace.CassetteFormatError, match=r"broken.yaml, line \d+: not valid YAML"
    ):
        import_vcr(broken)
    odd = tmp_path / "odd.yaml"
    odd.write_text(
        "interactions:\n- request: {method: POST, uri: 'https://x/v1/m'}\n"
        "  response: {status: {code: OK}}\n"
    )
    with pytest.raises(
        gemtrace.CassetteFormatError,
        match="odd.yaml: interaction 0, response.status.code: must be an integer",
    ):
        import_vcr(odd)
    with pytest.raises(gemtrace.CassetteFormatError, match="not a vcrpy cassette"):
        (tmp_path / "list.yaml").write_text("- 1\n")
        import_vcr(tmp_path / "list.yaml")


def test_the_import_command_writes_and_verifies(tmp_path: Path) -> None:
    env = subprocess_env()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gemtrace.cli",
            "cassettes",
            "import",
            *map(str, FILES),
            "-o",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert len(list(tmp_path.glob("*.json"))) == 4
    assert "5 interaction(s), models gemini-3-flash-preview" in done.stdout
