"""Secret removal before anything is written, and a scan of what was written.

Cassettes keep no request headers at all (``x-goog-api-key``, ``authorization``, cookies and
``traceparent`` never reach the file) and only ``content-type`` of the response. URLs lose their
credential query parameters. Users add their own rules: JSON paths to blank and regexes to replace.
After a file is written it is scanned for anything shaped like a Google API key, and for the
key's actual value, so that a rule nobody thought of still cannot leak one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gemtrace.errors import SecretFound
from gemtrace.jsonpath import locations

GOOGLE_API_KEY = re.compile(r"AIza[0-9A-Za-z_\-]{35}")
CREDENTIAL_QUERY_PARAMS = frozenset({"key", "access_token", "api_key"})
API_KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
REDACTED = "<redacted>"
_URI_PASSWORD = re.compile(r"(?P<head>[A-Za-z][\w+.-]*://[^:/\s]*):\S*@")
_QUERY_PASSWORD = re.compile(r"(?P<name>[?&](?:password|passwd|pwd)=)[^&\s]*", re.IGNORECASE)


def clean_url(url: str) -> str:
    """The URL without credential query parameters and without user:password@."""
    parts = urlsplit(url)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in CREDENTIAL_QUERY_PARAMS
    ]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), parts.fragment))


def hide_password(text: str) -> str:
    """The text as it may be shown or written: every password in a URI in it becomes ``***``.

    For database and tracking URIs (``postgresql://user:secret@host/db``), which appear in
    messages, logs and pid files while the password must not; also ``?password=`` parameters.
    Greedy up to the last ``@`` of a word: a password may hold an unescaped ``/`` or ``@``, and
    hiding too much is the safe mistake.
    """
    text = _URI_PASSWORD.sub(r"\g<head>:***@", text)
    return _QUERY_PASSWORD.sub(r"\g<name>***", text)


@dataclass
class ScrubRules:
    """Extra rules on top of the defaults.

    ``json_paths`` are dotted paths into request and response bodies (``*`` matches any key or list
    item) whose values become ``<redacted>``; ``patterns`` are regexes replaced wherever they match
    in a string value.
    """

    json_paths: Sequence[str] = ()
    patterns: Sequence[str | re.Pattern[str]] = ()
    secrets: Sequence[str] = field(default_factory=tuple)

    def compiled(self) -> list[re.Pattern[str]]:
        return [re.compile(p) if isinstance(p, str) else p for p in self.patterns]


def known_secrets(extra: Iterable[str] = ()) -> list[str]:
    """The values of the API-key variables set in this process, plus any given."""
    values = [os.environ.get(name, "") for name in API_KEY_VARIABLES] + list(extra)
    return [v for v in values if len(v) >= 8]


def scrub_value(value: Any, rules: ScrubRules, secrets: Sequence[str]) -> Any:
    """Replace secrets and user patterns in every string of a JSON value."""
    patterns = rules.compiled()
    scrubbed = _walk(value, patterns, secrets)
    for path in rules.json_paths:
        for container, key in locations(scrubbed, path):
            container[key] = REDACTED
    return scrubbed


def redact_text(text: str, secrets: Sequence[str], patterns: Sequence[re.Pattern[str]] = ()) -> str:
    """The text with the given secrets, anything key-shaped and the user's patterns redacted."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    text = GOOGLE_API_KEY.sub(REDACTED, text)
    for pattern in patterns:
        text = pattern.sub(REDACTED, text)
    return text


def _walk(value: Any, patterns: list[re.Pattern[str]], secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        return redact_text(value, secrets, patterns)
    if isinstance(value, dict):
        return {_walk(k, patterns, secrets): _walk(v, patterns, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, patterns, secrets) for v in value]
    return value


def find_secrets(text: str, secrets: Sequence[str] = ()) -> list[str]:
    """Descriptions of what looks like a credential in ``text`` (never the value itself)."""
    found = []
    for match in GOOGLE_API_KEY.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        found.append(f"line {line}: a string shaped like a Google API key (AIza...)")
    for secret in secrets:
        index = text.find(secret)
        if index >= 0:
            line = text.count("\n", 0, index) + 1
            found.append(f"line {line}: the value of the API key in use")
    return found


def check_file(path: Path, secrets: Sequence[str] = ()) -> None:
    """Raise SecretFound naming the file and the line if it holds anything key-shaped."""
    hits = find_secrets(path.read_text(encoding="utf-8", errors="replace"), secrets)
    if hits:
        raise SecretFound(
            f"{path}: {'; '.join(hits)}. Remove it before committing; "
            "add a scrub rule (ScrubRules(patterns=...)) if it came from your own data."
        )
