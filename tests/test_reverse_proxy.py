"""The team server behind the nginx site in docs/team-server.md: TLS, basic auth, the demo through it.

The site is read from the document itself, so the document cannot drift from what was tested;
only its port, certificate and file paths are replaced. Needs Debian's nginx (installed by
.ci/run); skipped without it, except under GEMTRACE_REQUIRE_SERVICES=1, where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, Store, free_port, subprocess_env

from gemtrace import tracing

GEMTRACE = str(Path(sys.executable).with_name("gemtrace"))
USER, PASSWORD = "workshop", "correct-horse-battery"
PLACEHOLDERS = {
    "listen 443 ssl;": "listen 127.0.0.1:{port} ssl;",
    "/etc/ssl/certs/mlflow.example.org.pem": "{cert}",
    "/etc/ssl/private/mlflow.example.org.key": "{key}",
    "/etc/nginx/gemtrace.htpasswd": "{htpasswd}",
    "http://127.0.0.1:5000": "{upstream}",
}


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None
    )


def documented_site() -> str:
    text = (REPO / "docs" / "team-server.md").read_text()
    found = re.search(r"```nginx\n(.*?)```", text, re.DOTALL)
    assert found, "docs/team-server.md has no ```nginx block"
    return found.group(1)


@dataclass
class Proxy:
    url: str
    cert: Path
    access_log: Path


@pytest.fixture(scope="module")
def proxy(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    nginx = nginx_binary()
    if nginx is None:
        if os.environ.get("GEMTRACE_REQUIRE_SERVICES") == "1":
            pytest.fail("GEMTRACE_REQUIRE_SERVICES=1, but nginx is not installed.")
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    work = tmp_path_factory.mktemp("nginx")
    cert, key, htpasswd = work / "cert.pem", work / "key.pem", work / "htpasswd"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    hashed = subprocess.run(
        ["openssl", "passwd", "-apr1", PASSWORD], check=True, capture_output=True, text=True
    ).stdout.strip()
    htpasswd.write_text(f"{USER}:{hashed}\n")
    port = free_port()
    site = documented_site()
    values = {"port": port, "cert": cert, "key": key, "htpasswd": htpasswd, "upstream": store.url}
    for placeholder, replacement in PLACEHOLDERS.items():
        assert placeholder in site, f"the documented site no longer has {placeholder!r}"
        site = site.replace(placeholder, replacement.format(**values))
    run_as = "user root;\n" if os.geteuid() == 0 else ""  # the workers read files in a 0700 folder
    (work / "nginx.conf").write_text(
        f"{run_as}worker_processes 1;\npid {work}/nginx.pid;\nerror_log {work}/error.log;\n"
        "daemon off;\nevents {}\n"
        f"http {{\n  access_log {work}/access.log;\n  client_body_temp_path {work}/body;\n"
        f"  proxy_temp_path {work}/proxy;\n{site}\n}}\n"
    )
    process = subprocess.Popen(
        [nginx, "-p", str(work), "-c", str(work / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while not _listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"nginx did not start: {process.stderr.read().decode()}")
        time.sleep(0.1)
    yield Proxy(f"https://localhost:{port}", cert, work / "access.log")
    process.terminate()
    process.wait(10)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def demo(proxy: Proxy, tmp_path: Path, **env: str | None) -> subprocess.CompletedProcess[str]:
    """A participant's `gemtrace demo`; a variable given as None is left unset."""
    settings = {
        "MLFLOW_TRACKING_URI": proxy.url,
        "MLFLOW_TRACKING_SERVER_CERT_PATH": str(proxy.cert),
        "MLFLOW_EXPERIMENT_NAME": "through-the-proxy",
        **env,
    }
    unset = [name for name, value in settings.items() if value is None]
    given = {name: value for name, value in settings.items() if value is not None}
    return subprocess.run(
        [GEMTRACE, "demo", "-s", "function_calling", "-s", "multimodal"],
        cwd=tmp_path,
        env=subprocess_env(*unset, **given),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_demo_reaches_the_server_through_tls_and_basic_auth(
    store: Store, proxy: Proxy, tmp_path: Path
) -> None:
    done = demo(proxy, tmp_path, MLFLOW_TRACKING_USERNAME=USER, MLFLOW_TRACKING_PASSWORD=PASSWORD)
    assert done.returncode == 0, done.stdout + done.stderr
    trace_ids = re.findall(r"^  trace (tr-[0-9a-f]+)", done.stdout, re.MULTILINE)
    assert len(trace_ids) == 2
    assert f"{proxy.url}/#/experiments/" in done.stdout
    # Read straight from the server behind the proxy: the traces are there, whole.
    from mlflow import MlflowClient

    for trace_id in trace_ids:
        assert MlflowClient(tracking_uri=store.url).get_trace(trace_id).data.spans
    # The traces were written through the proxy, as the authenticated user.
    access_log = proxy.access_log.read_text()
    assert re.search(rf" - {USER} \[[^]]*\] \"POST /api/", access_log), access_log[-2000:]


def test_without_the_password_the_demo_says_which_variables_to_set(
    proxy: Proxy, tmp_path: Path
) -> None:
    done = demo(proxy, tmp_path, MLFLOW_TRACKING_USERNAME=None, MLFLOW_TRACKING_PASSWORD=None)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "asks for credentials (HTTP 401) and none are set" in done.stderr
    assert "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in done.stderr


def test_a_wrong_password_is_refused_in_one_line(proxy: Proxy, tmp_path: Path) -> None:
    done = demo(proxy, tmp_path, MLFLOW_TRACKING_USERNAME=USER, MLFLOW_TRACKING_PASSWORD="n0pe")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert (
        "refused the credentials in MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in line
    )
    assert "n0pe" not in done.stdout + done.stderr


def test_a_certificate_path_that_is_not_there_is_one_line(proxy: Proxy, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    done = demo(proxy, tmp_path, MLFLOW_TRACKING_SERVER_CERT_PATH=str(missing))
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert f"MLFLOW_TRACKING_SERVER_CERT_PATH names {missing}, which is not a readable" in line


def test_an_unknown_certificate_says_to_set_the_cert_path(proxy: Proxy, tmp_path: Path) -> None:
    done = demo(
        proxy,
        tmp_path,
        MLFLOW_TRACKING_SERVER_CERT_PATH=None,
        MLFLOW_TRACKING_USERNAME=USER,
        MLFLOW_TRACKING_PASSWORD=PASSWORD,
    )
    assert done.returncode == 1
    assert "TLS with" in done.stderr and "MLFLOW_TRACKING_SERVER_CERT_PATH" in done.stderr


def test_the_credentials_are_sent_as_mlflow_sends_them(monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "t0ken")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    assert tracing.server_request_options()["headers"] == {"Authorization": "Bearer t0ken"}
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "a")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "b")  # basic first, as MLflow does
    assert tracing.server_request_options()["headers"] == {"Authorization": "Basic YTpi"}
