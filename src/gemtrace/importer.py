"""Bring existing cassettes: vcrpy / pytest-recording YAML files of Gemini calls, made readable.

Handles the shapes those files take: plain string bodies, pytest-recording's ``parsed_body`` trees,
gzip ``!!binary`` bodies, SSE bodies, any API version. Headers are dropped (all but content-type
of the response), credentials removed and bodies scrubbed as the recorder does.
"""

from __future__ import annotations

import datetime as _dt
import gzip
from pathlib import Path
from typing import Any

from gemtrace.cassette_file import Cassette, Interaction, RecordedRequest, RecordedResponse
from gemtrace.errors import CassetteFormatError
from gemtrace.matching import api_version_of, model_of
from gemtrace.scrub import ScrubRules, clean_url, known_secrets, scrub_value
from gemtrace.wire import KEPT_RESPONSE_HEADERS, parse_body, parse_sse


def import_vcr(path: str | Path, scrub: ScrubRules | None = None) -> Cassette:
    """Convert one vcrpy YAML cassette; errors name the file, the interaction and the field."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise CassetteFormatError(f"{path}: cannot read it ({error}).") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        raise CassetteFormatError(
            f"{path}{where}: not valid YAML ({getattr(error, 'problem', error)})."
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        raise CassetteFormatError(
            f"{path}: not a vcrpy cassette (expected a top-level 'interactions' list)."
        )
    rules = scrub or ScrubRules()
    secrets = known_secrets(rules.secrets)
    interactions = [
        _interaction(item, index, path) for index, item in enumerate(data["interactions"])
    ]
    for item in interactions:
        item.request.body = scrub_value(item.request.body, rules, secrets)
        item.response.body = scrub_value(item.response.body, rules, secrets)
        if item.response.events is not None:
            item.response.events = scrub_value(item.response.events, rules, secrets)
    urls = [item.request.url for item in interactions]
    return Cassette(
        metadata={
            "source": "imported",
            "imported_from": path.name,
            "format": "vcrpy",
            "api_version": sorted({v for u in urls if (v := api_version_of(u))}),
            "models": sorted({m for u in urls if (m := model_of(u))}),
            "created": _dt.datetime.now(_dt.UTC).date().isoformat(),
        },
        interactions=interactions,
    )


def _interaction(item: Any, index: int, path: Path) -> Interaction:
    def fail(field: str, problem: str) -> CassetteFormatError:
        return CassetteFormatError(f"{path}: interaction {index}, {field}: {problem}")

    if (
        not isinstance(item, dict)
        or not isinstance(item.get("request"), dict)
        or not isinstance(item.get("response"), dict)
    ):
        raise fail("request/response", "each interaction needs a request and a response mapping.")
    request, response = item["request"], item["response"]
    if not isinstance(request.get("uri"), str) or not isinstance(request.get("method"), str):
        raise fail("request", "needs 'method' and 'uri'.")
    if "parsed_body" in request:
        request_body = request["parsed_body"]
    else:
        request_body = parse_body(_bytes(request.get("body")))
    status = response.get("status", {})
    code = status.get("code") if isinstance(status, dict) else status
    if not isinstance(code, int):
        raise fail("response.status.code", f"must be an integer, found {code!r}.")
    headers = {str(k).lower(): _first(v) for k, v in (response.get("headers") or {}).items()}
    kept = {name: headers[name] for name in KEPT_RESPONSE_HEADERS if name in headers}
    if "parsed_body" in response:
        return Interaction(
            RecordedRequest(request["method"].upper(), clean_url(request["uri"]), request_body),
            RecordedResponse(code, kept, body=response["parsed_body"]),
        )
    raw = _bytes(response.get("body"))
    if raw[:2] == b"\x1f\x8b" or "gzip" in headers.get("content-encoding", ""):
        try:
            raw = gzip.decompress(raw)
        except OSError as error:
            raise fail("response.body", f"claims gzip but does not decompress ({error}).") from None
    is_stream = "text/event-stream" in headers.get("content-type", "") or raw.startswith(b"data:")
    return Interaction(
        RecordedRequest(request["method"].upper(), clean_url(request["uri"]), request_body),
        RecordedResponse(code, kept, events=parse_sse(raw))
        if is_stream
        else RecordedResponse(code, kept, body=parse_body(raw)),
    )


def _first(value: Any) -> str:
    return str(value[0]) if isinstance(value, list) and value else str(value)


def _bytes(body: Any) -> bytes:
    if isinstance(body, dict):
        body = body.get("string")
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    return str(body).encode("utf-8")
