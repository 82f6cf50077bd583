"""Where gemtrace keeps things: the state folder (server, store, logs) and the scenario cassettes."""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR_VARIABLE = "GEMTRACE_STATE_DIR"
CASSETTE_DIR_VARIABLE = "GEMTRACE_CASSETTE_DIR"


def state_dir() -> Path:
    """``.gemtrace/`` in the current folder, unless GEMTRACE_STATE_DIR says otherwise."""
    return Path(os.environ.get(STATE_DIR_VARIABLE) or ".gemtrace").resolve()


def ensure_private_dir(path: Path) -> Path:
    """Create a folder only its owner can read: it holds traces, which hold prompts."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def scenario_cassette_dir() -> Path:
    """The repository's ``cassettes/``, unless GEMTRACE_CASSETTE_DIR says otherwise."""
    configured = os.environ.get(CASSETTE_DIR_VARIABLE)
    if configured:
        return Path(configured).resolve()
    beside_source = Path(__file__).resolve().parents[2] / "cassettes"
    if beside_source.is_dir():
        return beside_source
    return Path("cassettes").resolve()
