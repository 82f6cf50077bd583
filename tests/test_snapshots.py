"""Every scenario's trace against its committed snapshot, and what a snapshot mismatch looks like."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Store
from google import genai

from gemtrace import tracing
from gemtrace.record import CassetteSession
from gemtrace.scenarios import SCENARIOS, Scenario, by_name
from gemtrace.snapshot import assert_trace_snapshot

SNAPSHOTS = Path(__file__).parent / "snapshots"


def replay(store: Store, scenario: Scenario):
    with store.collector.capture() as ids, CassetteSession(scenario.cassette, "none"):
        scenario.run(genai.Client(api_key="replay-without-key"))
    (trace,) = tracing.fetch_traces(ids)
    return trace


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_every_scenario_matches_its_snapshot(store: Store, scenario: Scenario) -> None:
    assert_trace_snapshot(replay(store, scenario), SNAPSHOTS / f"{scenario.name}.json")


def test_a_mismatch_shows_a_readable_diff_and_how_to_update(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "snap.json"
    assert_trace_snapshot(replay(store, by_name(["simple_generation"])[0]), path, update=True)
    with pytest.raises(AssertionError) as mismatch:
        assert_trace_snapshot(replay(store, by_name(["count_tokens"])[0]), path)
    message = str(mismatch.value)
    assert f"The trace differs from its snapshot {path}" in message
    assert '-  "name": "Models.generate_content",' in message
    assert '+  "name": "Models.count_tokens",' in message
    assert "--snapshot-update" in message


def test_under_ci_a_missing_snapshot_fails_instead_of_being_written(
    store: Store, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("CI", "true")
    path = tmp_path / "missing.json"
    with pytest.raises(AssertionError, match="CI does not write one"):
        assert_trace_snapshot(replay(store, by_name(["simple_generation"])[0]), path)
    assert not path.exists()
