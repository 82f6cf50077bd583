"""The local MLflow tracking server: start detached, wait for health, stop the whole group.

Job runner off, telemetry off, no pricing-catalogue fetch, bound to 127.0.0.1. On the default
SQLite store it runs one worker: ready in about 6 s on 2 cores, where the defaults take 13 to
18 s, and SQLite takes one writer at a time anyway. On a database server (PostgreSQL for a team)
it runs four. The artifacts, the pid file and the log live in the state folder (``.gemtrace/``),
readable by the owner only, as is the SQLite file. A database URI reaches MLflow through its
environment, not its command line, so its password is not on show in ``ps``; the pid file and
every message carry it as ``***``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemtrace.errors import ServerError
from gemtrace.paths import ensure_private_dir
from gemtrace.scrub import hide_password

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 5000
DATABASE_SERVER_WORKERS = 4
OFFLINE_ENVIRONMENT = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_MODEL_CATALOG_URI": "",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "DO_NOT_TRACK": "1",
}


@dataclass(frozen=True)
class ServerConfig:
    """Where the server listens and keeps its state; ``store_uri`` None means the SQLite file."""

    state_dir: Path
    port: int = DEFAULT_PORT
    host: str = LOOPBACK
    store_uri: str | None = None
    workers: int | None = None
    artifacts_destination: str | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "mlflow.db"

    @property
    def sqlite_uri(self) -> str:
        """The SQLite store in the state folder: the server's default, and the embedded store."""
        return f"sqlite:///{self.db_path}"

    @property
    def backend_store_uri(self) -> str:
        return self.store_uri or self.sqlite_uri

    @property
    def store_label(self) -> str:
        """The store as it may be shown: a path, or the URI without its password."""
        return str(self.db_path) if self.store_uri is None else hide_password(self.store_uri)

    @property
    def on_sqlite(self) -> bool:
        return self.backend_store_uri.startswith("sqlite:")

    @property
    def worker_count(self) -> int:
        if self.workers is not None:
            return self.workers
        return 1 if self.on_sqlite else DATABASE_SERVER_WORKERS

    @property
    def artifact_root(self) -> str:
        return (self.state_dir / "artifacts").as_uri()

    @property
    def serves_artifacts(self) -> bool:
        """Whether clients send artifacts (trace attachments) through the server.

        A database server is there for clients on other machines, which cannot write to this
        machine's folder; on the local SQLite store they write to it directly, as before.
        """
        return not self.on_sqlite or self.artifacts_destination is not None

    @property
    def artifacts_location(self) -> str:
        """Where artifacts end up: an object store if given, else the state folder."""
        return self.artifacts_destination or self.artifact_root

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "server.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "server.log"


@dataclass(frozen=True)
class RunningServer:
    pid: int
    url: str
    log_file: Path
    store: str
    already_running: bool = False


def offline_env(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.update(OFFLINE_ENVIRONMENT)
    return env


def server_env(config: ServerConfig) -> dict[str, str]:
    """The server's environment: offline, and the store URI (kept off the command line)."""
    env = offline_env()
    env["MLFLOW_BACKEND_STORE_URI"] = config.backend_store_uri
    return env


def command(config: ServerConfig) -> list[str]:
    listen = ["--host", config.host, "--port", str(config.port)]
    workers = ["--workers", str(config.worker_count)]
    if config.serves_artifacts:
        artifacts = ["--serve-artifacts", "--artifacts-destination", config.artifacts_location]
    else:
        artifacts = ["--default-artifact-root", config.artifact_root, "--no-serve-artifacts"]
    return [sys.executable, "-m", "mlflow", "server", *listen, *workers, *artifacts]


def health_status(
    url: str,
    timeout: float = 2.0,
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> int | None:
    """What ``/health`` answers: 200 from MLflow, another HTTP status (401 behind an
    authenticating proxy, say), or None when nothing, or something that is not MLflow, answers.

    A TLS failure is raised as :class:`ssl.SSLError`: it needs a different fix from a server
    that is down.
    """
    request = urllib.request.Request(f"{url}/health", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return 200 if response.status == 200 and response.read().strip() == b"OK" else None
    except urllib.error.HTTPError as error:
        return error.code
    except urllib.error.URLError as error:
        if isinstance(error.reason, ssl.SSLError):
            raise error.reason from None
        return None
    except ssl.SSLError:
        raise
    except (OSError, ValueError, http.client.HTTPException):  # the last: not an HTTP server
        return None


def is_healthy(url: str, timeout: float = 2.0, **options: Any) -> bool:
    try:
        return health_status(url, timeout, **options) == 200
    except ssl.SSLError:
        return False


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen there: connections of a stopped one (TIME_WAIT) don't count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: a port whose last server just stopped is free; one with a listener not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def status(config: ServerConfig) -> RunningServer | None:
    """The server this state folder started, if it is still running and ours."""
    recorded = _read_pid_file(config.pid_file)
    if recorded is None:
        return None
    pid, url, store = recorded
    if not _is_our_server(pid, config):
        config.pid_file.unlink(missing_ok=True)
        return None
    return RunningServer(pid, url, config.log_file, store, already_running=True)


def start(
    config: ServerConfig,
    timeout: float = 120.0,
    progress: Callable[[float], None] | None = None,
) -> RunningServer:
    """Start the server detached and return once ``/health`` answers."""
    running = status(config)
    if running is not None:
        if running.url != config.url:
            raise ServerError(
                f"A gemtrace MLflow server is already running at {running.url} (pid {running.pid}) "
                f"for {config.state_dir}. Stop it first (make stop) to move it to port {config.port}."
            )
        if running.store not in (config.store_label, hide_password(config.backend_store_uri)):
            raise ServerError(
                f"A gemtrace MLflow server is already running at {running.url} (pid {running.pid}) "
                f"on {running.store}. Stop it first (make stop) to start it on {config.store_label}."
            )
        return running
    if not port_is_free(config.host, config.port):
        raise ServerError(
            f"Port {config.port} on {config.host} is already in use by another program. "
            f"Pick another port: make serve PORT={config.port + 1} "
            f"(or gemtrace serve --port {config.port + 1}), and use the same PORT for make demo."
        )
    if config.store_uri is not None:
        from gemtrace.store_check import check_store

        check_store(config.store_uri)
    ensure_private_dir(config.state_dir)
    ensure_private_dir(config.state_dir / "artifacts")
    log_fd = os.open(config.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    log_start = os.fstat(log_fd).st_size  # earlier runs' lines are not this run's failure
    with os.fdopen(log_fd, "ab") as log:
        process = subprocess.Popen(
            command(config),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=server_env(config),
            cwd=config.state_dir,
            umask=0o077,  # the store holds prompts and answers: owner only
        )
    _write_pid_file(config, process.pid)
    started = time.monotonic()
    while not is_healthy(config.url, timeout=1.0):
        waited = time.monotonic() - started
        if process.poll() is not None:
            config.pid_file.unlink(missing_ok=True)
            raise ServerError(
                f"The MLflow server exited (code {process.returncode}) before it was ready: "
                f"{_failure(config.log_file, log_start)}. The whole story is in {config.log_file}."
            )
        if waited > timeout:
            _terminate_group(process.pid)
            config.pid_file.unlink(missing_ok=True)
            raise ServerError(
                f"The MLflow server did not answer {config.url}/health within {timeout:.0f} s; "
                f"it was stopped. Last lines of {config.log_file}:\n{_tail(config.log_file)}"
            )
        if progress is not None:
            progress(waited)
        time.sleep(0.25)
    return RunningServer(process.pid, config.url, config.log_file, config.store_label)


def stop(config: ServerConfig, timeout: float = 20.0) -> int | None:
    """Stop the server and every process of its group; the pid it had, or None if none ran."""
    running = status(config)
    if running is None:
        config.pid_file.unlink(missing_ok=True)
        return None
    _terminate_group(running.pid, timeout)
    config.pid_file.unlink(missing_ok=True)
    return running.pid


def _terminate_group(pid: int, timeout: float = 20.0) -> None:
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    if pgid != pid:
        # Started with start_new_session, the server leads its own group; anything else is not ours.
        os.kill(pid, signal.SIGTERM)
        return
    os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return
        _reap(pid)
        time.sleep(0.1)
    os.killpg(pgid, signal.SIGKILL)
    while _group_alive(pgid):
        _reap(pid)
        time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Zombies still count for killpg(0); a group of zombies only is gone for our purposes.
    return any(
        _is_alive_member(entry.name, pgid)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit()
    )


def _is_alive_member(pid_name: str, pgid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid_name}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    state, group = fields[0], int(fields[2])
    return group == pgid and state != "Z"


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _is_our_server(pid: int, config: ServerConfig) -> bool:
    """True only for a live MLflow server process started in this state folder."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        folder = Path(f"/proc/{pid}/cwd").resolve(strict=True)
    except OSError:
        return False
    if state == "Z":
        return False
    args = [part.decode(errors="replace") for part in cmdline]
    is_mlflow_server = "mlflow" in " ".join(args) and "server" in args
    return is_mlflow_server and folder == config.state_dir.resolve()


def _write_pid_file(config: ServerConfig, pid: int) -> None:
    fd = os.open(config.pid_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"pid": pid, "url": config.url, "store": config.store_label}, handle)


def _read_pid_file(path: Path) -> tuple[int, str, str] | None:
    try:
        data = json.loads(path.read_text())
        return int(data["pid"]), str(data["url"]), str(data.get("store", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None


_EXCEPTION_LINE = re.compile(
    r"^(?:\d{4}/\d\d/\d\d \d\d:\d\d:\d\d )?"  # MLflow's timestamp, on uvicorn's lines
    r"(?P<line>(?:[A-Za-z_][\w.]*(?:Error|Exception|Exit)\b|ERROR:).*)"
)


def _failure(log: Path, start: int = 0) -> str:
    """The last exception this run's part of the log reports, in one line."""
    try:
        with log.open("rb") as handle:
            handle.seek(start)
            lines = handle.read().decode(errors="replace").splitlines()
    except OSError:
        return "it wrote no log"
    found = [m.group("line") for m in map(_EXCEPTION_LINE.match, map(str.strip, lines)) if m]
    if found:
        return hide_password(found[-1])
    return hide_password(lines[-1].strip()) if lines else "it wrote nothing to its log"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
