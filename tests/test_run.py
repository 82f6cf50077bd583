"""`gemtrace run -- python my_app.py`: a user's own program, under a cassette, traced."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO, Store, subprocess_env

APP = """
import sys
from google import genai

client = genai.Client()
answer = client.models.generate_content(model="gemini-3-flash-preview", contents="The opposite of hot is")
print("answer:", answer.text, "args:", sys.argv[1:])
if len(sys.argv) > 1 and sys.argv[1] == "fail":
    raise RuntimeError("the app broke")
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""


def gemtrace_run(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = subprocess_env(GEMTRACE_STATE_DIR=str(folder / "state"), **env)
    return subprocess.run(
        [sys.executable, "-m", "gemtrace.cli", "run", *args],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def make_app(tmp_path: Path) -> Path:
    (tmp_path / "my_app.py").write_text(APP)
    (tmp_path / "cassettes").mkdir()
    shutil.copy(
        REPO / "cassettes" / "simple_generation.json", tmp_path / "cassettes" / "my_app.json"
    )
    return tmp_path


def test_a_script_runs_offline_traced_with_its_arguments_and_links(
    store: Store, tmp_path: Path
) -> None:
    app = make_app(tmp_path)
    done = gemtrace_run(
        app, "--experiment", "run-test", "--", "python", "my_app.py", MLFLOW_TRACKING_URI=store.url
    )
    assert done.returncode == 0, done.stderr
    assert "answer: cold args: []" in done.stdout
    assert "gemtrace run: 1 trace(s)" in done.stdout
    (line,) = [x for x in done.stdout.splitlines() if "selectedEvaluationId=" in x]
    trace_id = line.split()[0]
    assert f"{store.url}/#/experiments/" in line and "Models.generate_content" in line

    from mlflow import MlflowClient

    trace = MlflowClient(tracking_uri=store.url).get_trace(trace_id)
    assert (
        trace.info.experiment_id
        == MlflowClient(tracking_uri=store.url).get_experiment_by_name("run-test").experiment_id
    )


def test_the_exit_code_and_a_failure_are_kept(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    three = gemtrace_run(app, "--", "python", "my_app.py", "3")
    assert three.returncode == 3
    assert "answer: cold args: ['3']" in three.stdout
    assert "gemtrace run: 1 trace(s)" in three.stdout

    broken = gemtrace_run(app, "--", "python", "my_app.py", "fail")
    assert broken.returncode == 1
    assert "RuntimeError: the app broke" in broken.stderr
    assert "gemtrace run: 1 trace(s)" in broken.stdout


def test_a_module_runs_too(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    (app / "pkg").mkdir()
    (app / "pkg" / "__init__.py").write_text("")
    (app / "pkg" / "__main__.py").write_text(APP)
    done = gemtrace_run(
        app, "--cassette", "cassettes/my_app.json", "--", "python", "-m", "pkg", "0"
    )
    assert done.returncode == 0, done.stderr
    assert "answer: cold args: ['0']" in done.stdout


def test_a_request_the_cassette_lacks_fails_with_the_miss(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    (app / "my_app.py").write_text(APP.replace("The opposite of hot is", "The opposite of up is"))
    done = gemtrace_run(app, "--", "python", "my_app.py")
    assert done.returncode == 1
    assert "Error: No recorded answer in cassettes/my_app.json" in done.stderr
    assert "INFO" not in done.stderr
    assert '+          "text": "The opposite of up is"' in done.stderr


def test_bad_commands_are_explained(tmp_path: Path) -> None:
    not_python = gemtrace_run(tmp_path, "--", "node", "app.js")
    assert not_python.returncode == 1
    assert "gemtrace run runs Python programs" in not_python.stderr
    missing = gemtrace_run(tmp_path, "--", "python", "nope.py")
    assert missing.returncode == 1
    assert "nope.py: no such script" in missing.stderr
