"""One real MLflow server for the whole test session, and helpers to read traces back from it."""

from __future__ import annotations

import os

# Before MLflow is imported anywhere: nothing in a test run may reach the internet.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["MLFLOW_MODEL_CATALOG_URI"] = ""
os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
for _name in (
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "MLFLOW_TRACKING_URI",
    "GOOGLE_GENAI_HTTP_CLIENT",
):
    os.environ.pop(_name, None)

import socket  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from gemtrace import server, spantree, tracing  # noqa: E402
from gemtrace.record import CassetteSession  # noqa: E402
from gemtrace.scenarios import Scenario  # noqa: E402
from gemtrace.standin import StandIn  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CASSETTES = REPO / "cassettes"


def subprocess_env(*drop: str, **extra: str) -> dict[str, str]:
    """This process's environment for a child process, without what must not leak into it.

    MLflow's set_tracking_uri exports MLFLOW_TRACKING_URI; no key ever reaches a child unless
    the test passes one.
    """
    dropped = {"MLFLOW_TRACKING_URI", "GEMINI_API_KEY", "GOOGLE_API_KEY", *drop}
    return {**{k: v for k, v in os.environ.items() if k not in dropped}, **extra}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Store:
    url: str
    experiment_id: str
    collector: tracing.TraceCollector
    config: server.ServerConfig


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[server.ServerConfig]:
    """A real `mlflow server` process, started once per test run with a temporary store."""
    config = server.ServerConfig(
        state_dir=tmp_path_factory.mktemp("mlflow-server"), port=free_port()
    )
    server.start(config)
    yield config
    server.stop(config)


@pytest.fixture(scope="session")
def store(mlflow_server: server.ServerConfig) -> Store:
    """MLflow in this process pointed at the session server, autolog on."""
    target = tracing.Target(
        mlflow_server.url, f"the test server at {mlflow_server.url}", ui_url=mlflow_server.url
    )
    experiment_id = tracing.configure(target, "gemtrace-tests")
    return Store(mlflow_server.url, experiment_id, tracing.TraceCollector(), mlflow_server)


def replay_traced(store: Store, scenario: Scenario, client) -> tuple[list[str], spantree.SpanNode]:
    """Run a scenario under its cassette; its output and its one trace as read from the server."""
    with store.collector.capture() as trace_ids, CassetteSession(scenario.cassette, "none"):
        outputs = scenario.run(client)
    assert len(trace_ids) == 1, f"expected one trace, got {trace_ids}"
    (trace,) = tracing.fetch_traces(trace_ids)
    return outputs, spantree.build(trace)


@pytest.fixture
def sentinel() -> Iterator[StandIn]:
    """A loopback server that must see nothing: a request reaching it escaped the cassette."""
    with StandIn([]) as api:
        yield api
