"""The MLflow UI in a real browser: after the demo, every scenario's trace is in the experiment's
list, and the function-calling trace shows its span tree with the TOOL call.

Screenshots are saved in test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, Store, subprocess_env

from gemtrace.scenarios import SCENARIOS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Debian's chromium is not installed here (.ci/run installs it: apt-get install chromium)",
)


def test_the_ui_lists_every_trace_and_shows_the_tool_call(store: Store) -> None:
    from playwright.sync_api import sync_playwright

    demo = subprocess.run(
        [sys.executable, "-m", "gemtrace.cli", "demo", "--experiment", "ui-check"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
        env=subprocess_env(MLFLOW_TRACKING_URI=store.url),
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    experiment_link = re.search(r'Experiment "ui-check": (\S+)', demo.stdout).group(1)
    assert len(re.findall(r"^  trace tr-\w+  http", demo.stdout, re.M)) == len(SCENARIOS)
    block = demo.stdout.split("Function calling (tutorial step 5)")[1]
    tool_trace_link = re.search(r"  trace tr-\w+  (\S+)", block).group(1)

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(experiment_link)
            page.get_by_text(f"{len(SCENARIOS)} of {len(SCENARIOS)}").wait_for(timeout=60_000)
            for prompt in (
                "The opposite of hot is",
                "I have 57 cats",
                "Write a haiku about the sea",
            ):
                assert page.get_by_text(prompt).count() >= 1, prompt
            page.screenshot(path=str(ARTIFACTS / "experiment-traces.png"))

            page.goto(tool_trace_link)
            page.get_by_text("multiply", exact=True).first.wait_for(timeout=60_000)
            assert page.get_by_text("Chat.send_message").count() >= 1
            assert page.get_by_text("Models.generate_content").count() >= 2
            page.screenshot(path=str(ARTIFACTS / "function-calling-trace.png"))
        finally:
            browser.close()
