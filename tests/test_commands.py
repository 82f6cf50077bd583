"""The commands a workshop participant types, run as real processes: serve, demo, stop."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, Store, free_port, subprocess_env

from gemtrace import server, tracing
from gemtrace.scenarios import SCENARIOS

N = len(SCENARIOS)

GEMTRACE = [sys.executable, "-m", "gemtrace.cli"]
TUTORIAL_LINES = [
    "cold",
    "A computer follows instructions, like a recipe, to do things with numbers and pictures.",
    "2508",
]


def run(
    args: list[str], state: Path, timeout: float = 180, **env: str
) -> subprocess.CompletedProcess:
    environment = subprocess_env(GEMTRACE_STATE_DIR=str(state), **env)
    return subprocess.run(
        GEMTRACE + args, capture_output=True, text=True, timeout=timeout, env=environment, cwd=REPO
    )


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return any(
        Path(f"/proc/{p}/stat").exists()
        and Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[2] == str(pgid)
        and Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        for p in os.listdir("/proc")
        if p.isdigit()
    )


def test_demo_prints_the_tutorial_and_a_link_per_trace_into_a_running_server(
    store: Store, tmp_path: Path
) -> None:
    done = run(["demo", "--experiment", "demo-cli"], tmp_path, MLFLOW_TRACKING_URI=store.url)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for line in TUTORIAL_LINES:
        assert f"\n{line}\n" in out
    links = [line for line in out.splitlines() if "selectedEvaluationId=tr-" in line]
    assert len(links) == N
    assert all(f"{store.url}/#/experiments/" in line for line in links)
    assert "multi-turn (UNKNOWN" in out
    assert "├─ Chat.send_message (CHAT_MODEL" in out
    assert "├─ multiply(a=57, b=44) -> 2508 (TOOL" in out
    assert f"All {N} scenarios replayed; {N} trace(s) are in the store." in out

    import mlflow

    experiment = mlflow.get_experiment_by_name("demo-cli")
    traces = mlflow.search_traces(locations=[experiment.experiment_id], return_type="list")
    roots = sorted(s.name for t in traces for s in t.data.spans if s.parent_id is None)
    assert roots[:3] == ["Chat.send_message", "Models.count_tokens", "Models.embed_content"]
    assert len(roots) == N
    trace_ids_printed = {line.split()[1] for line in links}
    assert trace_ids_printed == {t.info.trace_id for t in traces}


def test_demo_without_a_server_writes_the_store_that_serve_then_serves(tmp_path: Path) -> None:
    port = free_port()
    done = run(["demo", "--port", str(port)], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Tracing into the embedded store {tmp_path}/mlflow.db" in done.stdout
    assert oct((tmp_path / "mlflow.db").stat().st_mode & 0o777) == "0o600"
    assert "run make serve" in done.stdout
    printed = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("  trace ")]
    assert len(printed) == N

    config = server.ServerConfig(state_dir=tmp_path, port=port)
    server.start(config)
    try:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=config.url)
        for trace_id in printed:
            assert client.get_trace(trace_id).data.spans, trace_id
    finally:
        server.stop(config)


def test_demo_with_a_tracking_uri_where_no_server_runs_fails_clearly(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    done = run(["demo"], tmp_path, MLFLOW_TRACKING_URI=dead, timeout=60)
    assert done.returncode == 1
    assert f"Error: No MLflow server answers at {dead} (from MLFLOW_TRACKING_URI)" in done.stderr
    assert "make serve" in done.stderr
    assert "Traceback" not in done.stderr


def test_demo_lists_and_runs_one_scenario(store: Store, tmp_path: Path) -> None:
    listed = run(["demo", "--list"], tmp_path)
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [s.name for s in SCENARIOS]
    one = run(["demo", "-s", "function_calling"], tmp_path, MLFLOW_TRACKING_URI=store.url)
    assert one.returncode == 0, one.stderr
    assert "[1/1] Function calling" in one.stdout and "\n2508\n" in one.stdout
    wrong = run(["demo", "-s", "nope"], tmp_path)
    assert wrong.returncode == 1
    assert "Unknown scenario 'nope'. Known scenarios: simple_generation" in wrong.stderr


def test_demo_fails_when_a_cassette_is_missing(store: Store, tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    shutil.copytree(REPO / "cassettes", cassettes)
    (cassettes / "multi_turn_chat.json").unlink()
    done = run(
        ["demo"], tmp_path, MLFLOW_TRACKING_URI=store.url, GEMTRACE_CASSETTE_DIR=str(cassettes)
    )
    assert done.returncode == 1
    assert "FAILED: multi_turn_chat" in done.stdout
    assert "multi_turn_chat.json: no such cassette" in done.stdout
    assert f"1 of {N} scenario(s) failed: multi_turn_chat." in done.stdout
    assert "\ncold\n" in done.stdout and "\n2508\n" in done.stdout


def test_serve_twice_then_stop_leaves_no_process(tmp_path: Path) -> None:
    port = free_port()
    started = run(["serve", "--port", str(port)], tmp_path)
    assert started.returncode == 0, started.stderr
    assert f"MLflow server ready at http://127.0.0.1:{port}" in started.stdout
    pid = int((tmp_path / "server.pid").read_text().split('"pid": ')[1].split(",")[0])
    try:
        assert server.is_healthy(f"http://127.0.0.1:{port}")
        assert (tmp_path / "server.log").exists()
        assert oct((tmp_path / "server.log").stat().st_mode & 0o777) == "0o600"
        assert oct(tmp_path.stat().st_mode & 0o777) == "0o700"

        again = run(["serve", "--port", str(port)], tmp_path)
        assert again.returncode == 0
        assert f"already running at http://127.0.0.1:{port} (pid {pid})" in again.stdout

        status = run(["status"], tmp_path)
        assert f"http://127.0.0.1:{port} (pid {pid}), healthy" in status.stdout
        assert_server_is_private(tmp_path, port)
    finally:
        stopped = run(["stop"], tmp_path)
    assert f"Stopped the MLflow server (pid {pid})" in stopped.stdout
    assert not group_alive(pid)
    assert not server.is_healthy(f"http://127.0.0.1:{port}")
    assert not (tmp_path / "server.pid").exists()
    assert "No gemtrace MLflow server is running" in run(["stop"], tmp_path).stdout
    stopped_status = run(["status"], tmp_path)
    assert stopped_status.returncode == 3
    assert (
        "No gemtrace MLflow server is running (start one with `make serve`)."
        in stopped_status.stdout
    )
    # Straight back on the same port: the stopped server's closed connections don't hold it.
    restarted = run(["serve", "--port", str(port)], tmp_path)
    run(["stop"], tmp_path)
    assert restarted.returncode == 0, restarted.stderr
    assert f"MLflow server ready at http://127.0.0.1:{port}" in restarted.stdout


def test_a_server_that_dies_at_start_is_reported_in_one_line(tmp_path: Path) -> None:
    unusable = "sqlite:////proc/gemtrace-cannot-be-here/mlflow.db"
    done = run(["serve", "--port", str(free_port()), "--backend-store-uri", unusable], tmp_path)
    assert done.returncode == 1
    error = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert error == [
        "Error: The MLflow server exited (code 1) before it was ready: FileNotFoundError: "
        "[Errno 2] No such file or directory: '/proc/gemtrace-cannot-be-here'. "
        f"The whole story is in {tmp_path}/server.log."
    ]
    assert not (tmp_path / "server.pid").exists()


def assert_server_is_private(state: Path, port: int) -> None:
    """Loopback only, MLflow's host and CORS checks on, the store readable by its owner only."""
    import http.client

    def status_with(headers: dict[str, str], method: str = "GET", body: str | None = None) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        path = "/api/2.0/mlflow/experiments/search?max_results=1"
        if method == "POST":
            path = "/api/2.0/mlflow/experiments/create"
        connection.request(method, path, body=body, headers=headers)
        code = connection.getresponse().status
        connection.close()
        return code

    assert status_with({}) == 200
    assert status_with({"Host": "evil.example.com"}) == 403
    assert (
        status_with(
            {"Origin": "http://evil.example.com", "Content-Type": "application/json"},
            "POST",
            '{"name": "x"}',
        )
        == 403
    )
    listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
    ours = [
        line.split()[1]
        for line in listening
        if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"
    ]
    assert ours == [f"0100007F:{port:04X}"], ours  # 127.0.0.1 only, nothing on 0.0.0.0
    assert oct((state / "mlflow.db").stat().st_mode & 0o777) == "0o600"


def test_serve_on_a_port_held_by_another_program_names_the_port(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = run(["serve", "--port", str(port)], tmp_path)
    assert done.returncode == 1
    assert f"Port {port} on 127.0.0.1 is already in use by another program" in done.stderr
    assert f"make serve PORT={port + 1}" in done.stderr
    assert not (tmp_path / "server.pid").exists()


@pytest.mark.parametrize("other", ["sleep", "mlflow server of another folder"])
def test_a_stale_pid_file_of_an_unrelated_process_is_never_signalled(
    tmp_path: Path, other: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    state = tmp_path / "state"
    state.mkdir()
    command = ["sleep", "30"]
    if other != "sleep":  # looks like an MLflow server, but runs for another state folder
        command = [sys.executable, "-c", "import time; time.sleep(30)", "mlflow", "server"]
    sleeper = subprocess.Popen(command, start_new_session=True, cwd=elsewhere)
    try:
        (state / "server.pid").write_text(
            f'{{"pid": {sleeper.pid}, "url": "http://127.0.0.1:1", "store": "x"}}'
        )
        done = run(["stop"], state)
        assert "No gemtrace MLflow server is running" in done.stdout
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare to make a network namespace with loopback only",
)
def test_demo_runs_in_a_namespace_with_no_network_at_all(tmp_path: Path) -> None:
    """Anything that tried the internet would fail here at once instead of passing by luck."""
    script = (
        f"ip link set lo up && GEMTRACE_STATE_DIR={tmp_path} "
        f"{sys.executable} -m gemtrace.cli demo --port {free_port()}"
    )
    env = subprocess_env()
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"All {N} scenarios replayed; {N} trace(s) are in the store." in done.stdout


def test_a_server_killed_mid_demo_gives_a_clear_error_and_touches_no_cassette(
    tmp_path: Path,
) -> None:
    import hashlib
    import signal

    def fingerprint() -> dict[str, str]:
        return {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((REPO / "cassettes").glob("*.json"))
        }

    before = fingerprint()
    config = server.ServerConfig(state_dir=tmp_path, port=free_port())
    running = server.start(config)
    demo = subprocess.Popen(
        GEMTRACE + ["demo", "--port", str(config.port)],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=subprocess_env(GEMTRACE_STATE_DIR=str(tmp_path), PYTHONUNBUFFERED="1"),
    )
    seen = []
    try:
        for line in demo.stdout:
            seen.append(line)
            if line.startswith("[2/"):
                os.killpg(running.pid, signal.SIGKILL)
                break
        rest, _ = demo.communicate(timeout=120)  # a hang guard, not a performance limit
    finally:
        if demo.poll() is None:
            demo.kill()
        server.stop(config)
    out = "".join(seen) + rest
    assert demo.returncode == 1
    assert f"FAILED: The MLflow server at http://127.0.0.1:{config.port} stopped answering" in out
    assert "Stopped after 1 of" in out and "no cassette was changed" in out
    assert "Traceback" not in out
    assert fingerprint() == before


def test_traces_show_prints_the_tree_with_the_tool_call(store: Store, tmp_path: Path) -> None:
    demo = run(["demo", "-s", "function_calling"], tmp_path, MLFLOW_TRACKING_URI=store.url)
    assert demo.returncode == 0, demo.stderr
    trace_id = next(
        line.split()[1] for line in demo.stdout.splitlines() if line.startswith("  trace ")
    )
    shown = run(["traces", "show", trace_id, "--tracking-uri", store.url], tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"trace {trace_id}  OK")
    assert lines[1].startswith(f"{store.url}/#/experiments/")
    assert lines[1].endswith(f"/traces?selectedEvaluationId={trace_id}")
    assert lines[2].startswith("Chat.send_message (CHAT_MODEL, ")
    assert "tokens in 466 / out 23, thinking 64)" in lines[2]
    assert any(line.startswith("├─ multiply(a=57, b=44) -> 2508 (TOOL, ") for line in lines)

    unknown = run(["traces", "show", "tr-0000", "--tracking-uri", store.url], tmp_path)
    assert unknown.returncode == 1
    assert f"Error: No trace tr-0000 in {store.url}" in unknown.stderr


def test_participants_creating_the_same_experiment_at_once_all_get_it(store: Store) -> None:
    """A workshop starts together: every participant asks for the experiment before any made it."""
    import threading

    import mlflow

    name = f"workshop-{time.time_ns()}"
    target = tracing.Target(store.url, "the test server")
    start = threading.Barrier(8)
    got: list[str] = []
    failed: list[BaseException] = []

    def participant() -> None:
        start.wait()
        try:
            got.append(tracing.ensure_experiment(name, target))
        except BaseException as error:  # noqa: BLE001 - collected and reported below
            failed.append(error)

    threads = [threading.Thread(target=participant) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failed == []
    assert len(got) == 8 and len(set(got)) == 1
    assert mlflow.get_experiment_by_name(name).experiment_id == got[0]


def test_make_serve_with_workers_and_an_artifacts_destination(tmp_path: Path) -> None:
    """WORKERS= and ARTIFACTS_DESTINATION= reach the server: attachments land where they say."""
    state, objects, port = tmp_path / "state", tmp_path / "objects", free_port()
    started = subprocess.run(
        ["make", "--no-print-directory", "serve", f"PORT={port}", "WORKERS=2"]
        + [f"ARTIFACTS_DESTINATION={objects.as_uri()}"],
        cwd=REPO,
        env=subprocess_env(GEMTRACE_STATE_DIR=str(state)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "(pid " in started.stdout and ", 2 workers)." in started.stdout
        assert f"artifacts: {objects.as_uri()} (clients send them through the server)" in (
            started.stdout
        )
        url = f"http://127.0.0.1:{port}"
        done = run(["demo", "-s", "multimodal"], tmp_path, MLFLOW_TRACKING_URI=url)
        assert done.returncode == 0, done.stdout + done.stderr
        (trace_id,) = [line.split()[1] for line in done.stdout.splitlines() if " trace " in line]
        assert list(objects.rglob(f"{trace_id}/artifacts/attachments/*")), "image not in objects/"
        log = (state / "server.log").read_text()
        deadline = time.monotonic() + 60
        while log.count("Started server process") < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            log = (state / "server.log").read_text()
        assert log.count("Started server process") == 2
    finally:
        run(["stop"], state)
