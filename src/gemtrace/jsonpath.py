"""Dotted paths into parsed JSON, shared by matching (fields to ignore) and scrubbing (to redact).

``contents.0.parts.*.text`` names the ``text`` of every part of the first content; ``*`` matches
any key of an object or any item of a list.
"""

from __future__ import annotations

from typing import Any


def locations(node: Any, path: str) -> list[tuple[Any, Any]]:
    """Every (container, key or index) that ``path`` names in ``node``, deepest lists last-first.

    Indexes of one list come in descending order, so deleting in the order given is safe.
    """
    found: list[tuple[Any, Any]] = []
    _collect(node, path.split("."), found)
    return found


def _collect(node: Any, steps: list[str], found: list[tuple[Any, Any]]) -> None:
    head, rest = steps[0], steps[1:]
    if isinstance(node, dict):
        keys: list[Any] = list(node) if head == "*" else [head] if head in node else []
    elif isinstance(node, list):
        indexes = range(len(node)) if head == "*" else [int(head)] if head.isdigit() else []
        keys = sorted((i for i in indexes if i < len(node)), reverse=True)
    else:
        return
    for key in keys:
        if rest:
            _collect(node[key], rest, found)
        else:
            found.append((node, key))
