"""Which recorded interaction answers a request.

A request is identified by a canonical key: the method, the path without its API-version
segment (the SDK moved from ``/v1beta`` to ``/v1``; recordings exist for both), the query without
credentials, and the JSON body in a canonical form. Headers never take part: they carry versions
and MLflow's random ``traceparent``.

Identical requests are answered in recorded order. Lookup is a dictionary access, so a cassette of
ten thousand interactions costs what one of ten does.
"""

from __future__ import annotations

import difflib
import json
import re
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from gemtrace.cassette_file import Interaction, RecordedRequest
from gemtrace.jsonpath import locations
from gemtrace.scrub import CREDENTIAL_QUERY_PARAMS

_VERSION_SEGMENT = re.compile(r"^/v\d+(?:(?:alpha|beta)\d*)?(?=/)")
_MODEL_IN_PATH = re.compile(r"/models/([^/:]+)")
_TO_STANDARD_B64 = str.maketrans("-_", "+/")


@dataclass(frozen=True, order=True)
class RequestKey:
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    body: str

    def describe(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.query)
        return f"{self.method} {self.path}{'?' + query if query else ''}"


def normalize_path(path: str) -> str:
    """``/v1beta/models/m:generateContent`` and ``/v1/models/m:generateContent`` are one path."""
    return _VERSION_SEGMENT.sub("", path) or "/"


def api_version_of(url: str) -> str | None:
    """``v1beta`` for ``https://host/v1beta/models/...``; None when the path has no version."""
    found = _VERSION_SEGMENT.match(urlsplit(url).path)
    return found.group(0).lstrip("/") if found else None


def model_of(url_or_path: str) -> str | None:
    found = _MODEL_IN_PATH.search(url_or_path)
    return found.group(1) if found else None


def canonical_json(value: Any) -> str:
    return json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical(value: Any) -> Any:
    # The SDK sends thought signatures base64url-encoded while the API returns standard base64.
    # An empty object or a null means "not set" to the API; MLflow's autolog makes the SDK send
    # ``"generationConfig": {}`` where it otherwise sends nothing.
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "thoughtSignature" and isinstance(v, str):
                out[k] = v.translate(_TO_STANDARD_B64)
                continue
            v = _canonical(v)
            if v is not None and v != {}:
                out[k] = v
        return out
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def key_for(method: str, url: str, body: Any, ignore: Sequence[str] = ()) -> RequestKey:
    parts = urlsplit(url)
    query = tuple(
        sorted(
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k.lower() not in CREDENTIAL_QUERY_PARAMS
        )
    )
    if ignore and body is not None:
        body = drop_paths(body, ignore)
    return RequestKey(method.upper(), normalize_path(parts.path), query, canonical_json(body))


def drop_paths(body: Any, paths: Sequence[str]) -> Any:
    """A copy of ``body`` without the fields at these dotted paths (see :mod:`gemtrace.jsonpath`)."""
    body = json.loads(json.dumps(body))
    for path in paths:
        for container, key in locations(body, path):
            del container[key]
    return body


class Matcher:
    """Hands out recorded interactions for requests, each one once, in recorded order."""

    def __init__(self, interactions: Iterable[Interaction], ignore: Sequence[str] = ()) -> None:
        self.ignore = tuple(ignore)
        self.interactions: list[Interaction] = []
        self._queues: dict[RequestKey, deque[int]] = {}
        self._used: set[int] = set()
        self._lock = threading.Lock()
        for interaction in interactions:
            self.add(interaction, used=False)

    def key(self, request: RecordedRequest) -> RequestKey:
        return key_for(request.method, request.url, request.body, self.ignore)

    def add(self, interaction: Interaction, *, used: bool) -> int:
        with self._lock:
            index = len(self.interactions)
            self.interactions.append(interaction)
            if used:
                self._used.add(index)
            else:
                self._queues.setdefault(self.key(interaction.request), deque()).append(index)
            return index

    def take(self, request: RecordedRequest) -> tuple[int, Interaction] | None:
        key = self.key(request)
        with self._lock:
            queue = self._queues.get(key)
            if not queue:
                return None
            index = queue.popleft()
            self._used.add(index)
            return index, self.interactions[index]

    def times_recorded(self, request: RecordedRequest) -> int:
        key = self.key(request)
        return sum(1 for item in self.interactions if self.key(item.request) == key)

    @property
    def unused(self) -> list[int]:
        return [i for i in range(len(self.interactions)) if i not in self._used]

    def closest(self, request: RecordedRequest) -> tuple[int, Interaction, str] | None:
        """The recorded request most like this one, with a diff of the bodies, for error messages."""
        if not self.interactions:
            return None
        key = self.key(request)
        same_path = [
            (i, it)
            for i, it in enumerate(self.interactions)
            if normalize_path(urlsplit(it.request.url).path) == key.path
        ]
        candidates = same_path or list(enumerate(self.interactions))
        mine = _pretty(request.body).splitlines()

        def score(pair: tuple[int, Interaction]) -> float:
            theirs = _pretty(pair[1].request.body).splitlines()
            return difflib.SequenceMatcher(None, theirs, mine, autojunk=False).ratio()

        index, best = max(candidates[:200], key=score)
        diff = "\n".join(
            difflib.unified_diff(
                _pretty(best.request.body).splitlines(),
                mine,
                fromfile=f"recorded (interaction {index})",
                tofile="this request",
                lineterm="",
                n=2,
            )
        )
        return index, best, diff


def _pretty(body: Any) -> str:
    return json.dumps(_canonical(body), indent=2, sort_keys=True, ensure_ascii=False)
