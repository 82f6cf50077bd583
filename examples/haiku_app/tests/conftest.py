"""Traces go to an embedded MLflow store in a temporary folder; autolog and gemtrace's spans on."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")


@pytest.fixture(scope="session", autouse=True)
def traced(tmp_path_factory: pytest.TempPathFactory) -> None:
    import mlflow

    import gemtrace

    store = tmp_path_factory.mktemp("mlflow")
    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    mlflow.set_experiment("haiku-app-tests")
    mlflow.gemini.autolog()
    gemtrace.autolog()
