"""Replay scenarios from their cassettes with MLflow autolog on, and show what each one traced."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gemtrace import spantree, tracing
from gemtrace.errors import GemtraceError, ServerGone
from gemtrace.record import REPLAY_PLACEHOLDER_KEY, CassetteSession
from gemtrace.scenarios import Scenario
from gemtrace.tracing import Target

Echo = Callable[[str], None]


@dataclass
class ScenarioResult:
    scenario: Scenario
    outputs: list[str] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)
    trees: list[spantree.SpanNode] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.trees)


def replay_client() -> Any:
    """A client for replay: the key is a placeholder, since no request leaves the process."""
    from google import genai

    return genai.Client(api_key=REPLAY_PLACEHOLDER_KEY)


def run_scenario(
    scenario: Scenario, collector: tracing.TraceCollector, client: Any | None = None
) -> ScenarioResult:
    result = ScenarioResult(scenario)
    try:
        with collector.capture() as trace_ids, CassetteSession(scenario.cassette, "none"):
            result.outputs = scenario.run(client or replay_client())
        result.trace_ids = list(trace_ids)
    except GemtraceError as error:
        result.error = str(error)
        return result
    except Exception:  # a scenario is user-level code: show its failure, go on with the next
        result.error = traceback.format_exc(limit=3)
        return result
    if not result.trace_ids:
        result.error = "the scenario ran but produced no trace (is MLflow autolog on?)"
        return result
    try:
        traces = tracing.fetch_traces(result.trace_ids)
    except ServerGone:
        raise
    except GemtraceError as error:
        result.error = str(error)
        return result
    result.trees = [spantree.build(trace) for trace in traces]
    return result


def run_demo(
    scenarios: Sequence[Scenario],
    target: Target,
    experiment: str,
    echo: Echo,
) -> list[ScenarioResult]:
    echo(f"Tracing into {target.description}.")
    experiment_id = tracing.configure(target, experiment)
    if target.ui_url:
        echo(f'Experiment "{experiment}": {tracing.experiment_url(target.ui_url, experiment_id)}')
    collector = tracing.TraceCollector()
    client = replay_client()  # one for all: each new client loads the CA bundle twice (~70 ms)
    results = []
    for number, scenario in enumerate(scenarios, start=1):
        echo("")
        echo(f"[{number}/{len(scenarios)}] {scenario.title} ({scenario.step})")
        try:
            result = run_scenario(scenario, collector, client)
        except ServerGone as error:
            echo(f"  FAILED: {error}")
            echo(
                f"Stopped after {number - 1} of {len(scenarios)} scenario(s); no cassette was changed."
            )
            results.append(ScenarioResult(scenario, error=str(error)))
            return results
        results.append(result)
        for output in result.outputs:
            echo(output)
        for trace_id, tree in zip(result.trace_ids, result.trees, strict=False):
            link = (
                tracing.trace_url(target.ui_url, experiment_id, trace_id) if target.ui_url else ""
            )
            echo(f"  trace {trace_id}  {link}".rstrip())
            for line in spantree.render(tree):
                echo(f"    {line}")
        if result.error:
            echo(f"  FAILED: {scenario.name}")
            for line in result.error.rstrip().splitlines():
                echo(f"    {line}")
    tracing.flush()
    failed = [r.scenario.name for r in results if not r.ok]
    echo("")
    if failed:
        echo(f"{len(failed)} of {len(results)} scenario(s) failed: {', '.join(failed)}.")
    else:
        traces = sum(len(r.trees) for r in results)
        echo(f"All {len(results)} scenarios replayed; {traces} trace(s) are in the store.")
        if target.embedded_artifacts:
            echo(
                "No server was running, so they went to the embedded store: run make serve, "
                f"then open {tracing.experiment_url(target.ui_url or '', experiment_id)}"
            )
    return results
