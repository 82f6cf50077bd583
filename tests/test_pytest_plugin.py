"""The README's "Use it on your own code", followed on a copy of examples/haiku_app.

The app's own tests run in a separate pytest process with gemtrace's plugin: first without a
cassette, then recording against a stand-in API with a key, then offline twice.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, subprocess_env

from gemtrace.scenarios.authored import example_app_responses
from gemtrace.standin import StandIn

FAKE_KEY = "AI" + "za" + "SyExample-stand-in-key_0123456789abcd"
TEST_ID = "tests/test_haiku_app.py::test_haiku_about_the_sea"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    copy = tmp_path / "haiku_app"
    shutil.copytree(
        REPO / "examples" / "haiku_app",
        copy,
        ignore=shutil.ignore_patterns("cassettes", "snapshots", "__pycache__"),
    )
    return copy


def pytest_in(app: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = subprocess_env("CI", **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=app,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_record_once_then_replay_offline_twice_with_identical_snapshots(app: Path) -> None:
    cassette = app / "tests" / "cassettes" / "test_haiku_app" / "test_haiku_about_the_sea.json"
    snapshot = app / "tests" / "snapshots" / "test_haiku_app" / "test_haiku_about_the_sea.json"

    missing = pytest_in(app)
    assert missing.returncode == 1
    assert "this test has no cassette, and the record mode is 'none'" in missing.stdout
    assert f"GEMINI_API_KEY=... pytest '{TEST_ID}' --gemini-record-mode=once" in missing.stdout
    assert not cassette.exists()

    with StandIn(example_app_responses()) as api:
        recorded = pytest_in(
            app,
            "--gemini-record-mode=once",
            GEMINI_API_KEY=FAKE_KEY,
            GOOGLE_GEMINI_BASE_URL=api.url,
        )
        assert {request.headers["x-goog-api-key"] for request in api.seen} == {FAKE_KEY}
    assert recorded.returncode == 0, recorded.stdout
    assert FAKE_KEY not in cassette.read_text()
    assert len(json.loads(cassette.read_text())["interactions"]) == 2
    first_snapshot = snapshot.read_bytes()

    for _ in range(2):
        offline = pytest_in(app)
        assert offline.returncode == 0, offline.stdout
        assert "2 passed" in offline.stdout
        assert snapshot.read_bytes() == first_snapshot


def test_a_stale_cassette_fails_with_fail_on_unused(app: Path) -> None:
    cassette = app / "tests" / "cassettes" / "test_haiku_app" / "test_haiku_about_the_sea.json"
    cassette.parent.mkdir(parents=True)
    data = json.loads(
        (
            REPO
            / "examples"
            / "haiku_app"
            / "tests"
            / "cassettes"
            / "test_haiku_app"
            / "test_haiku_about_the_sea.json"
        ).read_text()
    )
    extra = json.loads(json.dumps(data["interactions"][0]))
    extra["request"]["body"]["contents"][0]["parts"][0]["text"] = (
        "A question the app no longer asks."
    )
    data["interactions"].append(extra)
    cassette.write_text(json.dumps(data))

    assert pytest_in(app).returncode == 0
    stale = pytest_in(app, "--gemini-fail-on-unused")
    assert stale.returncode == 1
    assert (
        "the test never used 1 recorded interaction(s) (indexes 2): the cassette is stale"
        in stale.stdout
    )
    assert f"pytest '{TEST_ID}' --gemini-record-mode=all" in stale.stdout


def test_a_changed_prompt_fails_the_test_with_the_miss(app: Path) -> None:
    shutil.copytree(
        REPO / "examples" / "haiku_app" / "tests" / "cassettes", app / "tests" / "cassettes"
    )
    source = app / "haiku_app.py"
    source.write_text(source.read_text().replace("Write a haiku about", "Write a limerick about"))
    changed = pytest_in(app)
    assert changed.returncode == 1
    assert "CassetteMiss: No recorded answer in" in changed.stdout
    assert '+          "text": "Write a limerick about the sea.' in changed.stdout
