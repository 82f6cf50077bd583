"""A team server on a real PostgreSQL: `make serve BACKEND_STORE_URI=...`, many workers, many writers.

The cluster is the one CI starts (GEMTRACE_TEST_POSTGRES_URI), or a scratch one started here when
PostgreSQL's programs are installed. Where neither is possible the PostgreSQL tests are skipped,
except under GEMTRACE_REQUIRE_SERVICES=1 (set by .ci/run), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, free_port, subprocess_env

from gemtrace import server
from gemtrace.scenarios import SCENARIOS
from gemtrace.scrub import hide_password
from gemtrace.snapshot import assert_trace_snapshot

sys.path.insert(0, str(REPO / "scripts"))
import scratch_postgres  # noqa: E402

SNAPSHOTS = Path(__file__).parent / "snapshots"
GEMTRACE = str(Path(sys.executable).with_name("gemtrace"))
PARTICIPANTS = 8


@pytest.fixture(scope="module")
def postgres_uri() -> Iterator[str]:
    """A PostgreSQL database that asks for a password, on a loopback port."""
    given = os.environ.get("GEMTRACE_TEST_POSTGRES_URI")
    if given:
        yield given
        return
    if scratch_postgres.find_bin_dir() is None:
        reason = "PostgreSQL is not installed (apt-get install postgresql)"
        if os.environ.get("GEMTRACE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"GEMTRACE_REQUIRE_SERVICES=1, but {reason}.")
        pytest.skip(reason)
    directory = Path(tempfile.mkdtemp(prefix="gemtrace-pg-"))
    try:
        yield scratch_postgres.start(directory)
    finally:
        scratch_postgres.stop(directory)
        shutil.rmtree(directory, ignore_errors=True)


def password_of(uri: str) -> str:
    found = re.match(r"[^:]+://[^:/@]+:(.+)@", uri)
    assert found, f"the test database URI has no password: {uri.split('@')[-1]}"
    return found.group(1)


def serve(state: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GEMTRACE, "serve", *args],
        env=subprocess_env(GEMTRACE_STATE_DIR=str(state), **env),
        capture_output=True,
        text=True,
        timeout=180,
    )


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0]
    return lines[0]


def test_a_wrong_password_is_one_line_naming_user_and_host(postgres_uri: str, tmp_path: Path):
    secret = password_of(postgres_uri)
    wrong = postgres_uri.replace(f":{secret}@", ":not-the-password@")
    result = serve(tmp_path, "--port", str(free_port()), "--backend-store-uri", wrong)
    line = assert_one_clear_line(result, "refused the user name or password", "gemtrace:***@")
    assert "not-the-password" not in line and secret not in line
    assert not (tmp_path / "server.pid").exists(), "no server may be left behind"


def test_a_database_that_does_not_exist_says_how_to_create_it(postgres_uri: str, tmp_path: Path):
    missing = postgres_uri.rsplit("/", 1)[0] + "/no_such_db"
    result = serve(tmp_path, "--port", str(free_port()), "--backend-store-uri", missing)
    assert_one_clear_line(result, "has no database 'no_such_db'", "createdb -h 127.0.0.1")


def test_a_database_that_is_down_is_one_line(tmp_path: Path):
    nobody = f"postgresql://gemtrace:pw@127.0.0.1:{free_port()}/gemtrace"
    result = serve(tmp_path, "--port", str(free_port()), "--backend-store-uri", nobody)
    line = assert_one_clear_line(result, "Nothing answers at 127.0.0.1:", "server is down")
    assert ":pw@" not in line
    assert not (tmp_path / "server.pid").exists()


def test_a_missing_driver_says_how_to_install_it(tmp_path: Path):
    # A folder first on the path whose psycopg cannot be imported: a venv without the driver.
    shadow = tmp_path / "no-driver"
    (shadow / "psycopg").mkdir(parents=True)
    (shadow / "psycopg" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'psycopg'\", name='psycopg')\n"
    )
    nobody = f"postgresql://gemtrace:pw@127.0.0.1:{free_port()}/gemtrace"
    result = serve(
        tmp_path / "state",
        "--port",
        str(free_port()),
        "--backend-store-uri",
        nobody,
        PYTHONPATH=str(shadow),
    )
    assert_one_clear_line(result, "driver is not installed", "'psycopg'", "make venv")


def test_a_uri_that_is_not_a_database_is_refused(tmp_path: Path):
    result = serve(tmp_path, "--backend-store-uri", "http://127.0.0.1:5000")
    assert_one_clear_line(result, "is not a database URI", "postgresql://USER:PASSWORD@")
    no_scheme = serve(tmp_path, "--backend-store-uri", "gemtrace:s3cret@db/x")
    line = assert_one_clear_line(no_scheme, "The value given is not a database URI")
    assert "s3cret" not in line


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        (
            "postgresql://gemtrace:s3cret@127.0.0.1:5432/db",
            "postgresql://gemtrace:***@127.0.0.1:5432/db",
        ),
        ("postgresql://u:pa/s@s@h/db", "postgresql://u:***@h/db"),
        ("postgresql://admin@corp:s3cret@h/db", "postgresql://admin@corp:***@h/db"),
        ("postgresql+psycopg://u:@h/db", "postgresql+psycopg://u:***@h/db"),
        (
            "postgresql://u@h:5432/db?password=s3cret&x=1",
            "postgresql://u@h:5432/db?password=***&x=1",
        ),
        ("postgresql://u@h:5432/db", "postgresql://u@h:5432/db"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
        (
            "failed: see https://x/a, then mysql://u:s3cret@h/db.",
            "failed: see https://x/a, then mysql://u:***@h/db.",
        ),
    ],
)
def test_a_password_in_a_uri_is_never_shown(given: str, shown: str):
    assert hide_password(given) == shown


def test_make_serve_passes_the_uri_as_written(tmp_path: Path):
    """A "$" is make's own character: it must reach the database driver, not be expanded away."""
    port = free_port()
    uri = f"postgresql://gemtrace:pa$word@127.0.0.1:{port}/db$name"
    done = start_with_make(tmp_path, free_port(), uri)
    assert done.returncode != 0
    assert f"postgresql://gemtrace:***@127.0.0.1:{port}/db$name" in done.stderr
    assert "pa$word" not in done.stdout + done.stderr


def start_with_make(state: Path, port: int, uri: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "serve", f"PORT={port}", f"BACKEND_STORE_URI={uri}"],
        cwd=REPO,
        env=subprocess_env(GEMTRACE_STATE_DIR=str(state)),
        capture_output=True,
        text=True,
        timeout=300,
    )


def worker_starts(log: Path, expected: int, timeout: float = 90.0) -> int:
    """How many worker processes the server log reports started (waits for ``expected``)."""
    deadline = time.monotonic() + timeout
    while True:
        started = len(re.findall(r"Started server process \[\d+\]", log.read_text()))
        if started >= expected or time.monotonic() > deadline:
            return started
        time.sleep(0.5)


def run_participants(url: str, experiment: str) -> list[subprocess.CompletedProcess[str]]:
    """Eight `gemtrace demo` processes at once, each pointed at the server by environment only."""
    env = subprocess_env(MLFLOW_TRACKING_URI=url, MLFLOW_EXPERIMENT_NAME=experiment)
    processes = [
        subprocess.Popen(
            [GEMTRACE, "demo"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(PARTICIPANTS)
    ]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=600)
        results.append(
            subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        )
    return results


def all_traces(url: str, experiment: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=url)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"experiment {experiment} was never created on {url}"
    traces, token = [], None
    while True:
        page = client.search_traces(
            locations=[found.experiment_id], max_results=50, page_token=token
        )
        traces.extend(page)
        token = page.token
        if not token:
            return traces


def test_eight_participants_replay_every_scenario_into_one_postgresql_server(
    postgres_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    state, port = tmp_path / "state", free_port()
    secret = password_of(postgres_uri)
    started = start_with_make(state, port, postgres_uri)
    config = server.ServerConfig(state_dir=state, port=port)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"MLflow server ready at http://127.0.0.1:{port}" in started.stdout
        assert "4 workers" in started.stdout
        assert "store:     postgresql://gemtrace:***@127.0.0.1:" in started.stdout
        assert "(clients send them through the server)" in started.stdout
        assert secret not in started.stdout + started.stderr, "make echoed the password"
        assert worker_starts(state / "server.log", 4) == 4
        pid = json.loads((state / "server.pid").read_text())["pid"]
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        assert "mlflow" in command_line and secret not in command_line, "password on show in ps"

        experiment = f"workshop-{os.getpid()}-{time.time_ns()}"
        results = run_participants(config.url, experiment)

        claimed: list[tuple[int, str, str]] = []  # participant, scenario, trace id
        for number, result in enumerate(results):
            assert result.returncode == 0, f"participant {number}:\n{result.stdout}{result.stderr}"
            ids = re.findall(r"^  trace (tr-[0-9a-f]+)", result.stdout, re.MULTILINE)
            assert len(ids) == len(SCENARIOS), result.stdout
            claimed += [(number, s.name, i) for s, i in zip(SCENARIOS, ids, strict=True)]

        stored = all_traces(config.url, experiment)
        stored_ids = Counter(trace.info.trace_id for trace in stored)
        claimed_ids = {trace_id for _, _, trace_id in claimed}
        twice = sorted(i for i, n in stored_ids.items() if n > 1)
        missing = sorted(claimed_ids - set(stored_ids))
        unexpected = sorted(set(stored_ids) - claimed_ids)
        by_id = {trace.info.trace_id: trace for trace in stored}
        for _, scenario, trace_id in claimed:
            if trace_id in by_id:
                assert_trace_snapshot(by_id[trace_id], SNAPSHOTS / f"{scenario}.json")
        with capsys.disabled():
            print(
                f"\nteam server on PostgreSQL, {PARTICIPANTS} participants x {len(SCENARIOS)} "
                f"scenarios: expected {len(claimed)} traces, stored {len(stored)}, "
                f"distinct {len(stored_ids)}, missing {len(missing)}, twice {len(twice)}, "
                f"unexpected {len(unexpected)}; every stored span tree matched its snapshot"
            )
        assert len(claimed) == PARTICIPANTS * len(SCENARIOS) == len(claimed_ids)
        assert (missing, twice, unexpected) == ([], [], [])
        assert len(stored) == len(claimed)

        status = subprocess.run(
            ["make", "--no-print-directory", "status"],
            cwd=REPO,
            env=subprocess_env(GEMTRACE_STATE_DIR=str(state)),
            capture_output=True,
            text=True,
        )
        assert "store: postgresql://gemtrace:***@" in status.stdout
        # Each multimodal trace's image went through the server into its artifacts folder.
        for _, scenario, trace_id in claimed:
            if scenario == "multimodal":
                held = list((state / "artifacts").rglob(f"{trace_id}/artifacts/attachments/*"))
                assert held, f"no attachment of {trace_id} reached the server's artifacts"
    finally:
        server.stop(config)
    for written in state.rglob("*"):
        if written.is_file():
            assert secret not in written.read_text(errors="replace"), f"password in {written}"
    assert not (state / "server.pid").exists()


def test_the_demo_writes_straight_into_the_database_when_that_is_the_uri(
    postgres_uri: str, tmp_path: Path
):
    from mlflow import MlflowClient

    experiment = f"direct-{time.time_ns()}"
    done = subprocess.run(
        [GEMTRACE, "demo", "-s", "simple_generation", "--experiment", experiment],
        cwd=tmp_path,
        env=subprocess_env(MLFLOW_TRACKING_URI=postgres_uri),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Tracing into postgresql://gemtrace:***@127.0.0.1:" in done.stdout
    assert password_of(postgres_uri) not in done.stdout + done.stderr
    (trace_id,) = re.findall(r"^  trace (tr-[0-9a-f]+)", done.stdout, re.MULTILINE)
    trace = MlflowClient(tracking_uri=postgres_uri).get_trace(trace_id)
    assert_trace_snapshot(trace, SNAPSHOTS / "simple_generation.json")
    assert list(tmp_path.iterdir()) == [], "nothing may be left in the working folder"
