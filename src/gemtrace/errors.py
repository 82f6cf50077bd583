"""The errors gemtrace raises on purpose.

Each carries a message written for the person reading it: what happened, where (file, line,
interaction, request) and what to do next. The CLI prints them without a traceback.
"""

from __future__ import annotations


class GemtraceError(Exception):
    """Base class: an error whose message is meant for the user, not a bug report."""


class CassetteError(GemtraceError):
    """A cassette file cannot be used as it is."""


class CassetteNotFound(CassetteError):
    """Replay was asked for a cassette that does not exist."""


class CassetteFormatError(CassetteError):
    """A cassette file exists but is not valid gemtrace JSON."""


class CassetteMiss(GemtraceError):
    """A request made during replay has no recorded answer in the cassette."""


class SecretFound(GemtraceError):
    """Something shaped like a credential was about to be written, or was found on disk."""


class MissingApiKey(GemtraceError):
    """A record mode needs the live API and no key is set."""


class ServerError(GemtraceError):
    """The local MLflow server could not be started, reached or stopped."""


class StoreUnavailable(ServerError):
    """The database a server should run on cannot be used: no driver, refused, down, missing."""


class TraceMissing(GemtraceError):
    """A run produced traces that did not arrive in the tracking store."""


class ServerGone(ServerError):
    """The tracking server stopped answering in the middle of a run."""
