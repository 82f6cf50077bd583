"""No network in replay, proved inside a network namespace that has loopback only.

There, a connection that escaped the guard fails at once with a plain OSError instead of reaching a
real address, so a broken guard fails these tests and never sends traffic off the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from conftest import CASSETTES, subprocess_env

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare for a network namespace with loopback only",
)

PROBE = textwrap.dedent("""
    import asyncio, json, socket, sys, urllib.request
    import aiohttp, httpx, httpx2, requests
    import gemtrace
    from gemtrace.standin import StandIn
    from gemtrace.cassette_file import RecordedResponse

    results = {}

    def attempt(name, call):
        try:
            call()
            results[name] = "reached"
        except gemtrace.NetworkBlocked as error:
            results[name] = "blocked: " + str(error)
        except gemtrace.CassetteMiss as error:
            results[name] = "miss: " + str(error)
        except Exception as error:
            results[name] = f"escaped: {type(error).__name__}: {error}"

    async def with_aiohttp():
        async with aiohttp.ClientSession() as session:
            async with session.get("http://192.0.2.1/") as response:
                await response.read()

    with StandIn([RecordedResponse(200, {}, body={"ok": True})]) as local:
        with gemtrace.cassette(sys.argv[1]):
            attempt("raw socket", lambda: socket.create_connection(("192.0.2.1", 80), timeout=2))
            attempt("name lookup", lambda: socket.getaddrinfo("example.com", 443))
            attempt("urllib", lambda: urllib.request.urlopen("http://192.0.2.1/", timeout=2))
            attempt("requests", lambda: requests.get("https://example.com/", timeout=2))
            attempt("aiohttp", lambda: asyncio.run(with_aiohttp()))
            attempt("httpx", lambda: httpx.get("http://192.0.2.1/", timeout=2))
            attempt("httpx2", lambda: httpx2.get("http://192.0.2.1/", timeout=2))
            attempt("loopback", lambda: urllib.request.urlopen(local.url + "/x", timeout=2).read())
            attempt("tracking server", lambda: socket.getaddrinfo(sys.argv[2], 443))
            for extra in sys.argv[3:]:
                attempt(extra, lambda: socket.getaddrinfo(extra, 443))
        attempt("after the block", lambda: socket.create_connection(("192.0.2.1", 80), timeout=2))
    print(json.dumps(results))
""")


def probe(
    tracking_uri: str = "http://mlflow.team.internal:5000",
    tracking_host: str = "mlflow.team.internal",
    lookups: tuple[str, ...] = (),
    **extra: str,
) -> dict[str, str]:
    """Run the probe in a namespace with loopback only; ``lookups`` are more names to look up."""
    env = subprocess_env(MLFLOW_TRACKING_URI=tracking_uri, **extra)
    cassette = CASSETTES / "simple_generation.json"
    names = " ".join((tracking_host, *lookups))
    script = f"ip link set lo up && {sys.executable} -c '{PROBE}' {cassette} {names}"
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def results() -> dict[str, str]:
    return probe()


@pytest.mark.parametrize("client", ["raw socket", "urllib", "aiohttp"])
def test_connections_to_an_address_are_blocked_naming_it(results, client: str) -> None:
    assert results[client].startswith(
        "blocked: Blocked a connection to 192.0.2.1: replay is offline"
    )


@pytest.mark.parametrize("client", ["name lookup", "requests"])
def test_lookups_of_a_name_are_blocked_naming_it(results, client: str) -> None:
    assert results[client].startswith(
        "blocked: Blocked a connection to example.com: replay is offline"
    )


@pytest.mark.parametrize("client", ["httpx", "httpx2"])
def test_httpx_clients_get_the_cassette_miss_naming_the_host(results, client: str) -> None:
    assert results[client].startswith("miss: No recorded answer in")
    assert "to 192.0.2.1; nothing was sent: replay is offline." in results[client]


def test_loopback_and_the_tracking_server_stay_reachable(results) -> None:
    assert results["loopback"] == "reached"
    # Not blocked: the lookup of the configured tracking server goes ahead (and fails here only
    # because the namespace has no DNS at all).
    assert results["tracking server"].startswith("escaped: gaierror")


@pytest.mark.parametrize(
    ("tracking_uri", "host", "extra"),
    [
        ("databricks", "adb-1234.5.azuredatabricks.net", {}),
        ("databricks://workshop", "dbc-team.cloud.databricks.com", {}),
        ("postgresql://gemtrace:pw@db.team.internal:5432/mlflow", "db.team.internal", {}),
    ],
    ids=["databricks-env", "databricks-profile", "database"],
)
def test_a_databricks_workspace_or_a_database_as_target_stays_reachable(
    tracking_uri: str, host: str, extra: dict[str, str], tmp_path
) -> None:
    if tracking_uri == "databricks":
        extra = {"DATABRICKS_HOST": f"https://{host}", "DATABRICKS_TOKEN": "placeholder"}
    elif tracking_uri.startswith("databricks://"):
        config = tmp_path / "databrickscfg"
        config.write_text(
            f"[DEFAULT]\nhost = https://other.example\n\n[workshop]\nhost = https://{host}\n"
        )
        extra = {"DATABRICKS_CONFIG_FILE": str(config)}
    results = probe(tracking_uri, host, **extra)
    assert results["tracking server"].startswith("escaped: gaierror"), results["tracking server"]
    assert results["name lookup"].startswith("blocked"), results["name lookup"]


def test_databricks_trace_storage_is_reachable_but_the_gemini_api_is_not() -> None:
    """Databricks has MLflow upload trace data to its cloud's storage through signed URLs."""
    storage = ("bucket.s3.us-west-2.amazonaws.com", "acct.blob.core.windows.net")
    gemini = "generativelanguage.googleapis.com"
    results = probe(
        "databricks",
        "adb-1.2.azuredatabricks.net",
        (*storage, "storage.googleapis.com", gemini),
        DATABRICKS_HOST="https://adb-1.2.azuredatabricks.net",
    )
    for host in (*storage, "storage.googleapis.com"):
        assert results[host].startswith("escaped: gaierror"), (host, results[host])
    assert results[gemini].startswith("blocked"), results[gemini]


def test_hosts_named_in_gemtrace_allow_hosts_are_reachable() -> None:
    results = probe(
        lookups=("proxy.corp.internal", "a.b.metrics.internal", "other.example"),
        GEMTRACE_ALLOW_HOSTS="proxy.corp.internal, *.metrics.internal",
    )
    assert results["proxy.corp.internal"].startswith("escaped: gaierror")
    assert results["a.b.metrics.internal"].startswith("escaped: gaierror")
    assert results["other.example"].startswith("blocked")
    assert "GEMTRACE_ALLOW_HOSTS" in results["other.example"]


def test_the_guard_is_gone_after_the_block(results) -> None:
    assert results["after the block"].startswith("escaped: OSError"), results["after the block"]
