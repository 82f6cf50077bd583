"""The app's tests: offline, replayed from cassettes/, traces compared with snapshots/."""

import pytest
from haiku_app import count_syllables, haiku

import gemtrace


def test_count_syllables() -> None:
    assert count_syllables("the tide keeps its time") == 5


@pytest.mark.gemini_cassette
def test_haiku_about_the_sea(trace_snapshot) -> None:
    poem = haiku("the sea")
    assert len(poem.splitlines()) == 3
    trace = gemtrace.last_trace()
    tools = [span for span in trace.data.spans if span.span_type == "TOOL"]
    assert [span.name for span in tools] == ["count_syllables"] * 3
    trace_snapshot(trace)
