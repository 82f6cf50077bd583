"""Checks of cassette files on disk: schema, secrets, and well-formed interactions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from gemtrace import cassette_file
from gemtrace.errors import CassetteError
from gemtrace.scrub import CREDENTIAL_QUERY_PARAMS, find_secrets, known_secrets
from gemtrace.wire import KEPT_RESPONSE_HEADERS


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


_GENERATE = (":generateContent", ":streamGenerateContent")


def response_shape_problems(cassette: Any) -> list[str]:
    """Gemini answers the SDK could not parse: wrong types where the SDK expects lists and objects.

    Found here, they name the interaction and the field; left to the SDK, they surface as a
    validation traceback from deep inside pydantic.
    """
    problems = []
    for index, item in enumerate(cassette.interactions):
        if not any(marker in item.request.url for marker in _GENERATE):
            continue
        if item.response.status != 200:
            continue
        bodies = item.response.events if item.response.is_stream else [item.response.body]
        for number, body in enumerate(bodies or []):
            where = f"interaction {index}, response." + (
                f"events[{number}]" if item.response.is_stream else "body"
            )
            problems.extend(_generate_problems(body, where))
    return problems


def _generate_problems(body: Any, where: str) -> list[str]:
    if not isinstance(body, dict):
        return [f"{where}: a generateContent answer must be a JSON object."]
    problems = []
    candidates = body.get("candidates", [])
    if not isinstance(candidates, list):
        return [f"{where}.candidates: must be a list of candidates."]
    for number, candidate in enumerate(candidates):
        at = f"{where}.candidates[{number}]"
        if not isinstance(candidate, dict):
            problems.append(f"{at}: must be an object.")
            continue
        content = candidate.get("content", {})
        if not isinstance(content, dict):
            problems.append(f"{at}.content: must be an object.")
        elif not isinstance(content.get("parts", []), list) or not all(
            isinstance(part, dict) for part in content.get("parts", [])
        ):
            problems.append(f"{at}.content.parts: must be a list of objects.")
    for field in ("usageMetadata", "promptFeedback"):
        if field in body and not isinstance(body[field], dict):
            problems.append(f"{where}.{field}: must be an object.")
    return problems


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders as the ``*.json`` files under them."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(path.rglob("*.json")))
        else:
            found.append(path)
    return found


def check(path: Path) -> list[Problem]:
    try:
        cassette = cassette_file.load(path)
    except CassetteError as error:
        return [Problem(path, str(error).removeprefix(f"{path}: ").removeprefix(f"{path}, "))]
    problems = [
        Problem(path, hit)
        for hit in find_secrets(path.read_text(encoding="utf-8"), known_secrets())
    ]
    problems.extend(Problem(path, problem) for problem in response_shape_problems(cassette))
    for index, item in enumerate(cassette.interactions):
        at = f"interaction {index}"
        query = parse_qsl(urlsplit(item.request.url).query)
        for name, _ in query:
            if name.lower() in CREDENTIAL_QUERY_PARAMS:
                problems.append(Problem(path, f"{at}, request.url: holds a credential ({name}=)."))
        for name in item.response.headers:
            if name not in KEPT_RESPONSE_HEADERS:
                problems.append(
                    Problem(
                        path,
                        f"{at}, response.headers: {name!r} is not kept in cassettes "
                        f"(only {', '.join(KEPT_RESPONSE_HEADERS)}); remove it.",
                    )
                )
        if item.response.is_stream:
            for number, event in enumerate(item.response.events or []):
                if not isinstance(event, dict):
                    problems.append(
                        Problem(path, f"{at}, response.events[{number}]: must be a JSON object.")
                    )
        elif item.response.status == 200 and not isinstance(item.response.body, dict):
            problems.append(
                Problem(path, f"{at}, response.body: a 200 answer must be a JSON object.")
            )
    return problems
