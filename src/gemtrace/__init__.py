"""gemtrace: Gemini calls replayed from cassettes and traced into MLflow, offline.

import gemtrace
with gemtrace.cassette("cassettes/my_app.json"):
    ...  # google-genai calls are answered from the cassette
"""

from gemtrace.errors import (
    CassetteError,
    CassetteFormatError,
    CassetteMiss,
    CassetteNotFound,
    GemtraceError,
    MissingApiKey,
    SecretFound,
)
from gemtrace.extras import autolog
from gemtrace.guard import NetworkBlocked
from gemtrace.record import MODES, CassetteSession, cassette
from gemtrace.scrub import ScrubRules
from gemtrace.snapshot import assert_trace_snapshot
from gemtrace.tracing import last_trace

__version__ = "0.1.0"

__all__ = [
    "MODES",
    "CassetteError",
    "CassetteFormatError",
    "CassetteMiss",
    "CassetteNotFound",
    "CassetteSession",
    "GemtraceError",
    "MissingApiKey",
    "NetworkBlocked",
    "ScrubRules",
    "SecretFound",
    "assert_trace_snapshot",
    "autolog",
    "cassette",
    "last_trace",
]
