"""The cassette format: round trip, atomic writes, and errors that name the file and the place."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gemtrace import cassette_file
from gemtrace.cassette_file import Cassette, Interaction, RecordedRequest, RecordedResponse
from gemtrace.errors import CassetteFormatError, CassetteNotFound

URL = "https://generativelanguage.googleapis.com/v1/models/m:generateContent"


def sample() -> Cassette:
    return Cassette(
        metadata={"source": "authored", "models": ["m"]},
        interactions=[
            Interaction(
                RecordedRequest("POST", URL, {"contents": []}),
                RecordedResponse(200, {"content-type": "application/json"}, body={"a": 1}),
            ),
            Interaction(
                RecordedRequest("POST", URL + "?alt=sse", {"contents": []}),
                RecordedResponse(
                    200, {"content-type": "text/event-stream"}, events=[{"a": 1}, {"a": 2}]
                ),
            ),
        ],
    )


def test_round_trip_keeps_bodies_and_events(tmp_path: Path) -> None:
    path = cassette_file.save(sample(), tmp_path / "c.json")
    loaded = cassette_file.load(path)
    assert loaded.metadata == {"source": "authored", "models": ["m"]}
    assert loaded.interactions[0].response.body == {"a": 1}
    assert loaded.interactions[1].response.events == [{"a": 1}, {"a": 2}]
    text = path.read_text()
    assert text.startswith('{\n  "schema_version": 1,')
    assert text.endswith("}\n")


def test_a_failed_save_leaves_the_previous_file_and_no_temporary(
    tmp_path: Path, monkeypatch
) -> None:
    path = cassette_file.save(sample(), tmp_path / "c.json")
    before = path.read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    changed = sample()
    changed.interactions.pop()
    with pytest.raises(KeyboardInterrupt):
        cassette_file.save(changed, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "the file is empty"),
        (
            '{"schema_version": 1,\n  "metadata": {"source": "authored"},\n  "interactions": [',
            "line 3, column 20: not valid JSON",
        ),
        (
            '{"schema_version": 2, "metadata": {"source": "authored"}, "interactions": []}',
            "schema_version is 2, newer than this gemtrace understands (1)",
        ),
        (
            '{"schema_version": 0, "metadata": {"source": "authored"}, "interactions": []}',
            "schema_version must be 1, found 0",
        ),
        (
            '{"schema_version": 1, "metadata": {"source": "live"}, "interactions": []}',
            "metadata.source must be one of authored, recorded, imported; found 'live'",
        ),
        (
            '{"schema_version": 1, "metadata": {"source": "authored"}}',
            "interactions must be a list; found missing",
        ),
        (
            '{"schema_version": 1, "metadata": {"source": "authored"}, "interactions": '
            '[{"request": {"method": "POST", "url": "u", "body": null}, "response": {}}]}',
            "interaction 0, request.url must be an absolute http(s) URL; found 'u'",
        ),
        (
            '{"schema_version": 1, "metadata": {"source": "authored"}, "interactions": '
            f'[{{"request": {{"method": "POST", "url": "{URL}"}}, "response": {{"status": "200"}}}}]}}',
            "interaction 0, response.status must be an HTTP status code; found '200'",
        ),
        (
            '{"schema_version": 1, "metadata": {"source": "authored"}, "interactions": '
            f'[{{"request": {{"method": "POST", "url": "{URL}"}}, "response": {{"status": 200}}}}]}}',
            "interaction 0, response must have exactly one of 'body' or 'events'",
        ),
    ],
)
def test_bad_files_give_one_error_naming_file_and_place(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CassetteFormatError) as error:
        cassette_file.load(path)
    assert str(error.value).startswith(str(path))
    assert expected in str(error.value)


def test_a_directory_or_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CassetteFormatError, match="is a directory, not a cassette file"):
        cassette_file.load(tmp_path)
    with pytest.raises(CassetteNotFound, match="no such cassette"):
        cassette_file.load(tmp_path / "missing.json")


def test_rebase_moves_urls_to_another_origin_keeping_path_and_query() -> None:
    cassette = sample()
    cassette.interactions[1].request.url = "http://127.0.0.1:4444/v1/models/m:stream?alt=sse"
    cassette.rebase("https://generativelanguage.googleapis.com")
    assert cassette.interactions[1].request.url == (
        "https://generativelanguage.googleapis.com/v1/models/m:stream?alt=sse"
    )


def test_the_scenario_cassettes_load() -> None:
    from conftest import CASSETTES

    for path in CASSETTES.glob("*.json"):
        loaded = cassette_file.load(path)
        assert json.loads(path.read_text())["schema_version"] == 1
        assert loaded.metadata["scenario"] == path.stem
        assert len(loaded.metadata["models"]) == 1


def test_an_answer_the_sdk_cannot_parse_is_named_before_the_sdk_sees_it(tmp_path: Path) -> None:
    import gemtrace

    broken = sample()
    broken.interactions[0].response.body = {"candidates": [{"content": {"parts": "cold"}}]}
    path = cassette_file.save(broken, tmp_path / "unparseable.json")
    with pytest.raises(CassetteFormatError) as error, gemtrace.cassette(path):
        pass
    assert str(error.value).startswith(
        f"{path}: interaction 0, response.body.candidates[0].content.parts: must be a list of objects."
    )
    assert "record the cassette again" in str(error.value)


def test_an_unreadable_file_says_how_to_fix_it(tmp_path: Path) -> None:
    """Root reads any file whatever its mode, so the loader runs without that capability."""
    import shutil
    import subprocess
    import sys

    path = cassette_file.save(sample(), tmp_path / "locked.json")
    path.chmod(0o000)
    code = (
        "import sys; from gemtrace import cassette_file\n"
        "try:\n    cassette_file.load(sys.argv[1])\n"
        "except Exception as e:\n    print(type(e).__name__, e)"
    )
    command = [sys.executable, "-c", code, str(path)]
    if os.geteuid() == 0:
        assert shutil.which("setpriv"), "setpriv (util-linux) drops root's file-reading capability"
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.stdout.strip() == (
        f"CassetteFormatError {path}: permission denied. Make the file readable (chmod u+r {path})."
    ), done.stdout + done.stderr
