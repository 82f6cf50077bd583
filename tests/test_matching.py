"""Request keys and lookup: what counts as the same request, and in which order answers come."""

from __future__ import annotations

from gemtrace.cassette_file import Interaction, RecordedRequest, RecordedResponse
from gemtrace.matching import Matcher, key_for, normalize_path

BASE = "https://generativelanguage.googleapis.com"


def interaction(url: str, body: object, answer: str) -> Interaction:
    return Interaction(RecordedRequest("POST", url, body), RecordedResponse(200, {}, body=answer))


def test_the_api_version_segment_does_not_matter() -> None:
    assert normalize_path("/v1beta/models/m:generateContent") == "/models/m:generateContent"
    assert normalize_path("/v1/models/m:generateContent") == "/models/m:generateContent"
    assert normalize_path("/v1alpha/models/m:x") == "/models/m:x"
    assert normalize_path("/v1beta1/projects/p/models/m:x") == "/projects/p/models/m:x"
    assert normalize_path("/models/v1/m") == "/models/v1/m"


def test_key_order_host_and_credentials_do_not_matter_but_the_body_does() -> None:
    one = key_for("post", f"{BASE}/v1/models/m:generateContent?key=SECRET", {"a": 1, "b": [1, 2]})
    two = key_for(
        "POST", "http://127.0.0.1:9/v1beta/models/m:generateContent", {"b": [1, 2], "a": 1}
    )
    assert one == two
    assert key_for("POST", f"{BASE}/v1/models/m:generateContent", {"a": 2}) != one
    assert (
        key_for("POST", f"{BASE}/v1/models/m:generateContent?alt=sse", {"a": 1, "b": [1, 2]}) != one
    )


def test_thought_signatures_match_in_base64url_and_standard_base64() -> None:
    sent = {"parts": [{"thoughtSignature": "ab-c_d=="}]}
    recorded = {"parts": [{"thoughtSignature": "ab+c/d=="}]}
    assert key_for("POST", f"{BASE}/v1/x", sent) == key_for("POST", f"{BASE}/v1/x", recorded)


def test_an_empty_config_is_the_same_as_none() -> None:
    # MLflow's autolog makes the SDK send "generationConfig": {} where it otherwise sends nothing.
    with_empty = {"contents": [{"text": "hi"}], "generationConfig": {}}
    without = {"contents": [{"text": "hi"}]}
    assert key_for("POST", f"{BASE}/v1/x", with_empty) == key_for("POST", f"{BASE}/v1/x", without)
    assert key_for("POST", f"{BASE}/v1/x", {"contents": [{"text": ""}]}) != key_for(
        "POST", f"{BASE}/v1/x", {"contents": [{}]}
    )


def test_identical_requests_are_answered_in_recorded_order_each_once() -> None:
    url = f"{BASE}/v1/models/m:generateContent"
    matcher = Matcher(
        [
            interaction(url, {"q": 1}, "first"),
            interaction(url, {"q": 2}, "other"),
            interaction(url, {"q": 1}, "second"),
        ]
    )
    request = RecordedRequest("POST", url, {"q": 1})
    assert [matcher.take(request)[1].response.body for _ in range(2)] == ["first", "second"]
    assert matcher.take(request) is None
    assert matcher.unused == [1]


def test_ignored_json_paths_do_not_take_part_in_matching() -> None:
    url = f"{BASE}/v1/models/m:generateContent"
    recorded = {"contents": [{"parts": [{"text": "at 10:00"}]}], "keep": 1}
    matcher = Matcher([interaction(url, recorded, "ok")], ignore=["contents.*.parts.0.text"])
    asked = RecordedRequest(
        "POST", url, {"contents": [{"parts": [{"text": "at 11:30"}]}], "keep": 1}
    )
    assert matcher.take(asked)[1].response.body == "ok"


def test_closest_prefers_the_same_endpoint_and_shows_a_diff() -> None:
    url = f"{BASE}/v1/models/m:generateContent"
    matcher = Matcher(
        [
            interaction(
                f"{BASE}/v1/models/m:countTokens", {"contents": "The opposite of up is"}, "x"
            ),
            interaction(url, {"contents": "The opposite of hot is"}, "cold"),
            interaction(url, {"contents": "Something else entirely, longer"}, "y"),
        ]
    )
    index, best, diff = matcher.closest(
        RecordedRequest("POST", url, {"contents": "The opposite of up is"})
    )
    assert index == 1
    assert '-  "contents": "The opposite of hot is"' in diff
    assert '+  "contents": "The opposite of up is"' in diff


def test_lookup_is_a_dictionary_access_not_a_scan() -> None:
    url = f"{BASE}/v1/models/m:generateContent"
    matcher = Matcher([interaction(url, {"n": n}, str(n)) for n in range(5000)])
    calls = 0
    original = matcher.key

    def counting_key(request):
        nonlocal calls
        calls += 1
        return original(request)

    matcher.key = counting_key
    assert matcher.take(RecordedRequest("POST", url, {"n": 4999}))[1].response.body == "4999"
    assert calls == 1
