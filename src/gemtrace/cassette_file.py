"""The cassette file format: load, validate, save.

A cassette is one JSON file, meant to be read and diffed by people::

    {
      "schema_version": 1,
      "metadata": {"source": "authored", "sdk_version": "3.6.1", "api_version": "v1",
                   "models": ["gemini-3-flash-preview"], "created": "2026-12-04", ...},
      "interactions": [
        {"request":  {"method": "POST", "url": "https://.../v1/models/m:generateContent",
                      "body": {...parsed JSON...}},
         "response": {"status": 200, "headers": {"content-type": "application/json"},
                      "body": {...parsed JSON...}}},
        {"request": {...}, "response": {"status": 200,
                      "headers": {"content-type": "text/event-stream"}, "events": [{...}, ...]}}
      ]
    }

A response has either ``body`` (parsed JSON, a string, or null) or ``events`` (the data of each
server-sent event, parsed as JSON where it is JSON). Requests keep no headers at all and URLs keep
no credential: see :mod:`gemtrace.scrub`.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemtrace.errors import CassetteFormatError, CassetteNotFound

SCHEMA_VERSION = 1
SOURCES = ("authored", "recorded", "imported")
JSON_VALUE = (dict, list, str, int, float, bool, type(None))


@dataclass
class RecordedRequest:
    method: str
    url: str
    body: Any = None


@dataclass
class RecordedResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    events: list[Any] | None = None
    #: When each event arrived, in ms after the response started (recorded streams only).
    event_times_ms: list[float] | None = None

    @property
    def is_stream(self) -> bool:
        return self.events is not None


@dataclass
class Interaction:
    request: RecordedRequest
    response: RecordedResponse


@dataclass
class Cassette:
    metadata: dict[str, Any] = field(default_factory=dict)
    interactions: list[Interaction] = field(default_factory=list)
    path: Path | None = None

    @property
    def source(self) -> str:
        return str(self.metadata.get("source", "?"))

    def rebase(self, origin: str) -> None:
        """Rewrite every request URL to another scheme://host[:port], keeping path and query.

        Used when a cassette was made against a stand-in server that took the API's place.
        """
        from urllib.parse import urlsplit, urlunsplit

        new = urlsplit(origin)
        for interaction in self.interactions:
            old = urlsplit(interaction.request.url)
            interaction.request.url = urlunsplit(
                (new.scheme, new.netloc, old.path, old.query, old.fragment)
            )


def to_dict(cassette: Cassette) -> dict[str, Any]:
    interactions = []
    for item in cassette.interactions:
        response: dict[str, Any] = {
            "status": item.response.status,
            "headers": item.response.headers,
        }
        if item.response.is_stream:
            response["events"] = item.response.events
            if item.response.event_times_ms is not None:
                response["event_times_ms"] = item.response.event_times_ms
        else:
            response["body"] = item.response.body
        interactions.append(
            {
                "request": {
                    "method": item.request.method,
                    "url": item.request.url,
                    "body": item.request.body,
                },
                "response": response,
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "metadata": cassette.metadata,
        "interactions": interactions,
    }


def dumps(cassette: Cassette) -> str:
    return json.dumps(to_dict(cassette), indent=2, ensure_ascii=False) + "\n"


def save(cassette: Cassette, path: str | os.PathLike[str] | None = None) -> Path:
    """Write atomically: a temporary file in the same folder, then a rename.

    A crash or Ctrl-C while writing leaves the previous file as it was.
    """
    target = Path(path) if path is not None else cassette.path
    if target is None:
        raise ValueError("save() needs a path: the cassette was not loaded from a file")
    target.parent.mkdir(parents=True, exist_ok=True)
    text = dumps(cassette)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    cassette.path = target
    return target


def load(path: str | os.PathLike[str]) -> Cassette:
    """Read and validate a cassette, or raise an error that names the file and the place."""
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise CassetteFormatError(
            f"{path}: the file is empty. Delete it and record it again, "
            f"or restore it from version control (git checkout -- {path})."
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CassetteFormatError(
            f"{path}, line {error.lineno}, column {error.colno}: not valid JSON ({error.msg}). "
            "The file may be truncated or hand-edited; restore it from version control "
            "or record it again."
        ) from None
    return from_dict(data, path)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CassetteNotFound(
            f"{path}: no such cassette. Record it with a key "
            f"(GEMINI_API_KEY=... gemtrace record, or mode='once' in gemtrace.cassette), "
            "or check the path."
        ) from None
    except IsADirectoryError:
        raise CassetteFormatError(
            f"{path}: is a directory, not a cassette file. Give the path of a .json file."
        ) from None
    except PermissionError:
        raise CassetteFormatError(
            f"{path}: permission denied. Make the file readable (chmod u+r {path})."
        ) from None
    except UnicodeDecodeError as error:
        raise CassetteFormatError(
            f"{path}: not UTF-8 text (byte {error.start}). A cassette is a JSON text file."
        ) from None


def from_dict(data: Any, path: Path | None = None) -> Cassette:
    where = str(path) if path is not None else "<cassette>"
    check = _Checker(where)
    check.type(data, dict, "the top level")
    version = data.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:  # True == 1 in Python
        if isinstance(version, int) and version > SCHEMA_VERSION:
            check.fail(
                "schema_version",
                f"is {version}, newer than this gemtrace understands ({SCHEMA_VERSION}). "
                "Upgrade gemtrace (make venv after pulling) to read it.",
            )
        check.fail("schema_version", f"must be {SCHEMA_VERSION}, found {version!r}.")
    metadata = data.get("metadata", {})
    check.type(metadata, dict, "metadata")
    source = metadata.get("source")
    if source not in SOURCES:
        check.fail("metadata.source", f"must be one of {', '.join(SOURCES)}; found {source!r}.")
    raw_interactions = data.get("interactions")
    check.type(raw_interactions, list, "interactions")
    interactions = [_interaction(item, index, check) for index, item in enumerate(raw_interactions)]
    return Cassette(metadata=metadata, interactions=interactions, path=path)


def _interaction(item: Any, index: int, check: _Checker) -> Interaction:
    at = f"interaction {index}"
    check.type(item, dict, at)
    request = item.get("request")
    response = item.get("response")
    check.type(request, dict, f"{at}, request")
    check.type(response, dict, f"{at}, response")
    method = request.get("method")
    check.type(method, str, f"{at}, request.method")
    url = request.get("url")
    check.type(url, str, f"{at}, request.url")
    if not url.startswith(("http://", "https://")):
        check.fail(f"{at}, request.url", f"must be an absolute http(s) URL; found {url!r}.")
    check.type(request.get("body"), JSON_VALUE, f"{at}, request.body")
    status = response.get("status")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        check.fail(f"{at}, response.status", f"must be an HTTP status code; found {status!r}.")
    headers = response.get("headers", {})
    check.type(headers, dict, f"{at}, response.headers")
    for name, value in headers.items():
        check.type(value, str, f"{at}, response.headers[{name!r}]")
    has_body, has_events = "body" in response, "events" in response
    if has_body == has_events:
        check.fail(f"{at}, response", "must have exactly one of 'body' or 'events'.")
    events = response.get("events")
    if has_events:
        check.type(events, list, f"{at}, response.events")
    times = response.get("event_times_ms")
    if times is not None and (
        not isinstance(times, list)
        or len(times) != len(events or [])
        or not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in times)
    ):
        check.fail(f"{at}, response.event_times_ms", "must be a list of numbers, one per event.")
    return Interaction(
        request=RecordedRequest(method=method.upper(), url=url, body=request.get("body")),
        response=RecordedResponse(
            status=status,
            headers={str(k).lower(): v for k, v in headers.items()},
            body=response.get("body"),
            events=events,
            event_times_ms=times,
        ),
    )


class _Checker:
    """Raises CassetteFormatError naming the file and the field."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, place: str, problem: str) -> None:
        raise CassetteFormatError(
            f"{self.where}: {place} {problem} "
            "Fix the field, restore the file from version control, or record it again."
        )

    def type(self, value: Any, expected: type | tuple[type, ...], place: str) -> None:
        if isinstance(expected, tuple):
            ok = isinstance(value, expected)
            wanted = "a JSON value"
        else:
            ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
            wanted = {dict: "an object", list: "a list", str: "a string", int: "an integer"}.get(
                expected, expected.__name__
            )
        if not ok:
            found = "missing" if value is None else f"a {type(value).__name__}"
            self.fail(place, f"must be {wanted}; found {found}.")
