"""A trace's spans as a tree: for the terminal, and normalised for comparing two runs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from gemtrace.extras import CHUNKS_ATTRIBUTE, FIRST_CHUNK_ATTRIBUTE, THOUGHTS_ATTRIBUTE

# MLflow puts its random traceparent header into the chat config it records as span input; the
# SDK's user-agent and x-goog-api-client carry SDK and Python versions.
# Tools appear in span inputs as their repr: "<function multiply at 0x7f...>".
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+>")
# MLflow keeps inline images as attachments named by a random id and the trace id.
_ATTACHMENT_IDS = re.compile(r"(?<=mlflow-attachment://)[0-9a-f-]{36}|&?trace_id=tr-[0-9a-f]+")
_VOLATILE_KEYS = {
    "responseId",
    "response_id",
    "create_time",
    "sdk_http_response",
    "traceparent",
    "user-agent",
    "x-goog-api-client",
}


@dataclass
class SpanNode:
    name: str
    span_type: str
    status: str
    duration_ms: float
    inputs: Any
    outputs: Any
    attributes: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    children: list[SpanNode] = field(default_factory=list)

    @property
    def token_usage(self) -> dict[str, int] | None:
        usage = self.attributes.get("mlflow.chat.tokenUsage")
        return usage if isinstance(usage, dict) else None

    def walk(self) -> list[SpanNode]:
        nodes = [self]
        for child in self.children:
            nodes.extend(child.walk())
        return nodes

    def find(self, name: str) -> list[SpanNode]:
        return [node for node in self.walk() if node.name == name]


def build(trace: Any) -> SpanNode:
    """The root span of a trace with its descendants, in start order."""
    spans = sorted(trace.data.spans, key=lambda s: (s.start_time_ns, s.span_id))
    nodes: dict[str, SpanNode] = {}
    root: SpanNode | None = None
    for span in spans:
        status = getattr(span.status, "status_code", span.status)
        nodes[span.span_id] = SpanNode(
            name=span.name,
            span_type=str(span.span_type or "UNKNOWN"),
            status=str(getattr(status, "value", status)),
            duration_ms=((span.end_time_ns or span.start_time_ns) - span.start_time_ns) / 1e6,
            inputs=span.inputs,
            outputs=span.outputs,
            attributes=dict(span.attributes),
            events=[{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
        )
    for span in spans:
        node = nodes[span.span_id]
        if span.parent_id and span.parent_id in nodes:
            nodes[span.parent_id].children.append(node)
        elif root is None:
            root = node
    if root is None:
        raise ValueError("the trace has no spans")
    return root


def render(root: SpanNode) -> list[str]:
    """One line per span: name, type, duration, tokens, drawn as a tree."""
    lines: list[str] = []

    def visit(node: SpanNode, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        details = [node.span_type, f"{node.duration_ms:.0f} ms"]
        usage = node.token_usage
        if usage:
            details.append(
                f"tokens in {usage.get('input_tokens', 0)} / out {usage.get('output_tokens', 0)}"
            )
        if thoughts := node.attributes.get(THOUGHTS_ATTRIBUTE):
            details.append(f"thinking {thoughts}")
        if (chunks := node.attributes.get(CHUNKS_ATTRIBUTE)) is not None:
            first = node.attributes.get(FIRST_CHUNK_ATTRIBUTE)
            details.append(f"{chunks} chunks" + (f", first after {first:.0f} ms" if first else ""))
        if node.status not in ("OK", "UNSET"):
            details.append(node.status)
        lines.append(f"{prefix}{branch}{label(node)} ({', '.join(details)})")
        child_prefix = prefix if top else prefix + ("   " if last else "│  ")
        for index, child in enumerate(node.children):
            visit(child, child_prefix, index == len(node.children) - 1, False)

    visit(root, "", True, True)
    return lines


def label(node: SpanNode) -> str:
    """A TOOL span reads as the call it was: ``multiply(a=57, b=44) -> 2508``."""
    if node.span_type != "TOOL":
        return node.name
    inputs = node.inputs if isinstance(node.inputs, dict) else {}
    args = ", ".join(f"{k}={_short(v)}" for k, v in inputs.items())
    return f"{node.name}({args}) -> {_short(node.outputs)}"


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def normalised(root: SpanNode) -> dict[str, Any]:
    """The tree without ids, times and per-response ids: equal for two replays of one cassette."""
    keep = (
        "mlflow.spanType",
        "mlflow.llm.model",
        "mlflow.chat.tokenUsage",
        "mlflow.message.format",
    )
    return {
        "name": root.name,
        "type": root.span_type,
        "status": root.status,
        "inputs": _strip(root.inputs),
        "outputs": _strip(root.outputs),
        "attributes": {k: root.attributes[k] for k in keep if k in root.attributes},
        "children": [normalised(child) for child in root.children],
    }


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _VOLATILE_KEYS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, str) and value.startswith(("{", "[")):
        try:
            return _strip(json.loads(value))
        except ValueError:
            return value
    if isinstance(value, str):
        value = _ADDRESS.sub(">", value)
        return _ATTACHMENT_IDS.sub("", value) if value.startswith("mlflow-attachment://") else value
    return value
