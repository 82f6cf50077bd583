"""MLflow set-up for traced replay: where traces go, the experiment, autolog, offline settings.

The target is, in order: an explicit tracking URI, ``MLFLOW_TRACKING_URI`` (as MLflow users
expect), the local server if it answers, and otherwise the embedded SQLite store that the local
server serves, so traces written without a server appear once it is started.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemtrace.errors import GemtraceError, ServerGone, TraceMissing
from gemtrace.scrub import hide_password
from gemtrace.server import OFFLINE_ENVIRONMENT, ServerConfig, health_status, is_healthy

if TYPE_CHECKING:
    from mlflow.entities import Trace

DEFAULT_EXPERIMENT = "gemtrace-demo"


def go_offline() -> None:
    """Stop MLflow from reaching the internet (telemetry, pricing catalogue) in this process.

    Call before MLflow is imported; the variables are also read again at use time.
    """
    for name, value in OFFLINE_ENVIRONMENT.items():
        if name != "MLFLOW_SERVER_ENABLE_JOB_EXECUTION":
            os.environ[name] = value


class _KnownAutologNoise(logging.Filter):
    """MLflow 3.17 logs a traceback for every embed_content span: embeddings carry no usage."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to extract token usage for span")


def quiet_mlflow_logs() -> None:
    """Keep MLflow's informational chatter out of the CLI's output; warnings still show."""
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("mlflow.gemini.autolog").addFilter(_KnownAutologNoise())


@dataclass(frozen=True)
class Target:
    tracking_uri: str
    description: str
    ui_url: str | None = None
    embedded_artifacts: str | None = None


def resolve_target(server: ServerConfig, tracking_uri: str | None = None) -> Target:
    explicit = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if explicit:
        origin = "--tracking-uri" if tracking_uri else "MLFLOW_TRACKING_URI"
        ui = explicit.rstrip("/") if explicit.startswith(("http://", "https://")) else None
        return Target(explicit, f"{hide_password(explicit)} (from {origin})", ui_url=ui)
    if is_healthy(server.url):
        return Target(server.url, f"the local MLflow server at {server.url}", ui_url=server.url)
    return Target(
        server.sqlite_uri,
        f"the embedded store {server.db_path} (no server answers at {server.url}; "
        "run make serve to browse these traces there)",
        ui_url=server.url,
        embedded_artifacts=server.artifact_root,
    )


def server_request_options() -> dict[str, Any]:
    """The credentials and TLS settings MLflow's client uses, for gemtrace's own requests.

    A team server behind a proxy asks for them on ``/health`` too. Read from MLflow's variables
    and in its order: MLFLOW_TRACKING_USERNAME and _PASSWORD (basic), else MLFLOW_TRACKING_TOKEN
    (bearer); MLFLOW_TRACKING_INSECURE_TLS, else MLFLOW_TRACKING_SERVER_CERT_PATH.
    """
    headers: dict[str, str] = {}
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if user and password:
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"
    elif token:
        headers["Authorization"] = f"Bearer {token}"
    context = None
    cert_path = os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH")
    if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif cert_path:
        try:
            context = ssl.create_default_context(cafile=cert_path)
        except (OSError, ssl.SSLError) as error:
            raise GemtraceError(
                f"MLFLOW_TRACKING_SERVER_CERT_PATH names {cert_path}, which is not a readable "
                f"PEM certificate ({error.strerror or error}). Point it at the server's CA file."
            ) from None
    return {"headers": headers, "context": context}


def _check_server(target: Target) -> None:
    """Ask the server's ``/health`` as MLflow will ask it, and say in one line what is wrong."""
    options = server_request_options()
    try:
        status = health_status(target.tracking_uri.rstrip("/"), timeout=5.0, **options)
    except ssl.SSLError as error:
        raise GemtraceError(
            f"TLS with {target.description} failed: {error.__class__.__name__}: "
            f"{getattr(error, 'verify_message', None) or error}. If the server has its own "
            "certificate, set MLFLOW_TRACKING_SERVER_CERT_PATH to the certificate's file."
        ) from None
    if status in (401, 403) and not options["headers"]:
        raise GemtraceError(
            f"The server at {target.description} asks for credentials (HTTP {status}) and "
            "none are set. Set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or "
            "MLFLOW_TRACKING_TOKEN) to what the server's administrator gave you."
        )
    if status in (401, 403):
        which = options["headers"]["Authorization"].split()[0].lower()
        variables = (
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
            if which == "basic"
            else "MLFLOW_TRACKING_TOKEN"
        )
        raise GemtraceError(
            f"The server at {target.description} refused the credentials in {variables} "
            f"(HTTP {status}). Check them with the server's administrator."
        )
    if status != 200:
        raise GemtraceError(
            f"No MLflow server answers at {target.description}. "
            "Start the local one with `make serve` (use the same PORT), or unset "
            "MLFLOW_TRACKING_URI to write to the embedded store."
        )


def connect(target: Target) -> None:
    """Point MLflow at ``target``; a clear error if it is a server that does not answer."""
    go_offline()
    if target.tracking_uri.startswith(("http://", "https://")):
        _check_server(target)
    import mlflow

    quiet_mlflow_logs()  # again: importing MLflow resets its loggers
    mlflow.set_tracking_uri(target.tracking_uri)
    if target.embedded_artifacts:
        Path(target.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True, mode=0o700
        )


def configure(target: Target, experiment: str = DEFAULT_EXPERIMENT, extras: bool = True) -> str:
    """Point MLflow at ``target``, select the experiment, switch autolog on; the experiment id.

    ``extras`` adds gemtrace's spans for what autolog misses (:mod:`gemtrace.extras`).
    """
    # Export each trace as it ends: a trace is in the store when the call returns, and there is
    # no async queue to wait for (its flush polls about once a second).
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
    # MLflow retries a failed request with exponential backoff for minutes; a local server that
    # died should be reported at once, not waited for.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    connect(target)
    import mlflow

    try:
        experiment_id = ensure_experiment(experiment, target)
    except Exception as error:  # MLflow raises several types for an unreachable store
        raise GemtraceError(
            f"Could not open the tracking store at {target.description}: "
            f"{hide_password(_first_line(error))}. Check that the server is running (make serve), "
            "or that MLFLOW_TRACKING_URI and MLFLOW_EXPERIMENT_NAME are right for it."
        ) from None
    mlflow.set_experiment(experiment_id=experiment_id)
    if target.embedded_artifacts:
        Path(target.tracking_uri.removeprefix("sqlite:///")).chmod(0o600)
    mlflow.gemini.autolog()
    if extras:
        from gemtrace import extras as extra_spans

        extra_spans.autolog()
    return experiment_id


def ensure_experiment(name: str, target: Target) -> str:
    """The experiment's id, creating it if needed, also when others create it at the same time.

    A workshop's participants run the demo against one fresh server at once: all of them find no
    experiment, one creation wins, the others read back the winner's.
    """
    import mlflow

    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = None
    if target.embedded_artifacts:
        location = f"{target.embedded_artifacts}/{_slug(name)}"
    try:
        return str(mlflow.create_experiment(name, artifact_location=location))
    except Exception:
        found = mlflow.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def trace_url(ui_url: str, experiment_id: str, trace_id: str) -> str:
    return f"{ui_url}/#/experiments/{experiment_id}/traces?selectedEvaluationId={trace_id}"


def experiment_url(ui_url: str, experiment_id: str) -> str:
    return f"{ui_url}/#/experiments/{experiment_id}/traces"


class TraceCollector:
    """Collects the ids of the traces that finish while :meth:`capture` is open.

    A span processor sees every span before export; a span without a parent closes a trace.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: list[list[str]] = []

    __name__ = "gemtrace_trace_collector"

    def __call__(self, span: Any) -> None:
        if span.parent_id is None:
            with self._lock:
                for bucket in self._open:
                    bucket.append(span.trace_id)

    @contextmanager
    def capture(self) -> Iterator[list[str]]:
        from mlflow.tracing import configure as configure_tracing
        from mlflow.tracing.config import get_config

        bucket: list[str] = []
        with self._lock:
            self._open.append(bucket)
        try:
            others = [p for p in get_config().span_processors if p is not self]
            with configure_tracing(span_processors=[*others, self]):
                yield bucket
        finally:
            with self._lock:
                self._open.remove(bucket)


def flush() -> None:
    import mlflow

    mlflow.flush_trace_async_logging()


def last_trace() -> Trace:
    """The last trace this process finished, read back from the store (for snapshots in tests)."""
    import mlflow

    trace_id = mlflow.get_last_active_trace_id()
    if trace_id is None:
        raise TraceMissing("No trace has finished in this process yet: is MLflow autolog on?")
    flush()
    return fetch_traces([trace_id])[0]


def fetch_trace(trace_id: str) -> Trace:
    """One trace from the store, or an error that says where it looked."""
    import mlflow

    trace = _get_trace(mlflow, trace_id)
    if trace is None:
        raise TraceMissing(
            f"No trace {trace_id} in {hide_password(mlflow.get_tracking_uri())}. Check the id, and that "
            "--tracking-uri / MLFLOW_TRACKING_URI / --port name the store that holds it."
        )
    return trace


def fetch_traces(trace_ids: list[str], timeout: float = 30.0) -> list[Trace]:
    """Read traces back from the store; raise TraceMissing naming those that never arrived."""
    import mlflow

    flush()
    deadline = time.monotonic() + timeout
    found: dict[str, Trace] = {}
    while True:
        for trace_id in trace_ids:
            if trace_id not in found:
                trace = _get_trace(mlflow, trace_id)
                if trace is not None and trace.data.spans:
                    found[trace_id] = trace
        missing = [t for t in trace_ids if t not in found]
        if not missing:
            return [found[t] for t in trace_ids]
        uri = mlflow.get_tracking_uri()
        if uri.startswith(("http://", "https://")) and not is_healthy(
            uri.rstrip("/"), 2.0, **server_request_options()
        ):
            raise ServerGone(
                f"The MLflow server at {hide_password(uri)} stopped answering: {len(missing)} trace(s) of this "
                f"run could not be stored ({', '.join(missing)}). Check .gemtrace/server.log, "
                "start it again (make serve) and rerun."
            )
        if time.monotonic() > deadline:
            raise TraceMissing(
                f"{len(missing)} trace(s) did not arrive in the tracking store within "
                f"{timeout:.0f} s: {', '.join(missing)}. Check the server (make status, and "
                ".gemtrace/server.log)."
            )
        time.sleep(0.25)


def _get_trace(mlflow: Any, trace_id: str) -> Trace | None:
    try:
        return mlflow.MlflowClient().get_trace(trace_id)
    except Exception:  # not there yet, or the store is briefly unavailable
        return None


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "experiment"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
