"""Hypothesis against the loader and the matcher: bad input gives a CassetteFormatError, or a
key, never a traceback from deep inside a library. Cases it found are kept as regular tests below.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gemtrace import cassette_file
from gemtrace.cassette_file import Interaction, RecordedRequest, RecordedResponse
from gemtrace.errors import CassetteError
from gemtrace.matching import Matcher, key_for

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
URL = "https://generativelanguage.googleapis.com/v1/models/m:generateContent"
valid_interaction = st.fixed_dictionaries(
    {
        "request": st.fixed_dictionaries(
            {"method": st.just("POST"), "url": st.just(URL), "body": json_values}
        ),
        "response": st.fixed_dictionaries(
            {"status": st.integers(100, 599), "headers": st.just({}), "body": json_values}
        ),
    }
)
mutations = st.sampled_from(["drop", "retype", "none"])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    document=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"schema_version": json_values, "metadata": json_values, "interactions": json_values}
        ),
        st.fixed_dictionaries(
            {
                "schema_version": st.just(1),
                "metadata": st.just({"source": "authored"}),
                "interactions": st.lists(valid_interaction, max_size=3),
            }
        ),
    ),
    mutation=mutations,
    victim=st.sampled_from(["request", "response", "method", "url", "status"]),
)
def test_the_loader_accepts_or_names_the_problem(
    tmp_path: Path, document, mutation, victim
) -> None:
    well_formed = (
        isinstance(document, dict)
        and document.get("metadata") == {"source": "authored"}
        and isinstance(document.get("interactions"), list)
        and document["interactions"]
    )
    if well_formed and mutation != "none":
        item = document["interactions"][0]
        part = (
            item
            if victim in ("request", "response")
            else (item["request"] if victim in ("method", "url") else item["response"])
        )
        if mutation == "drop":
            part.pop(victim, None)
        else:
            part[victim] = [1, 2]
    path = tmp_path / "fuzzed.json"
    path.write_text(json.dumps(document))
    try:
        loaded = cassette_file.load(path)
    except CassetteError as error:
        assert str(error).startswith(str(path))
    else:
        assert all(isinstance(i.response.status, int) for i in loaded.interactions)


@settings(max_examples=200, deadline=None)
@given(
    recorded=st.lists(json_values, max_size=5),
    asked=json_values,
    method=st.sampled_from(["GET", "post", "DELETE"]),
    path=st.text(alphabet="/:abcv1.-_", max_size=30),
    query=st.text(max_size=20),
)
def test_the_matcher_always_answers_with_a_key_or_none(
    recorded, asked, method, path, query
) -> None:
    url = f"https://host/{path}?{query}"
    matcher = Matcher(
        [
            Interaction(RecordedRequest("POST", URL, body), RecordedResponse(200, {}, body={}))
            for body in recorded
        ]
    )
    key_for(method, url, asked)
    found = matcher.take(RecordedRequest(method, url, asked))
    if found is not None:
        assert matcher.key(found[1].request) == matcher.key(RecordedRequest(method, url, asked))
    if found is None and recorded:
        assert matcher.closest(RecordedRequest(method, url, asked)) is not None


@pytest.mark.parametrize(
    "document",
    [
        # Kept from fuzzing: a bare list, a string, and an interaction whose request is a list.
        [],
        "cassette",
        {
            "schema_version": 1,
            "metadata": {"source": "authored"},
            "interactions": [{"request": [1, 2], "response": {}}],
        },
        {"schema_version": True, "metadata": {"source": "authored"}, "interactions": []},
    ],
)
def test_kept_fuzz_cases(tmp_path: Path, document) -> None:
    path = tmp_path / "kept.json"
    path.write_text(json.dumps(document))
    with pytest.raises(CassetteError, match=str(path)):
        cassette_file.load(path)
