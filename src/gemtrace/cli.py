"""The ``gemtrace`` command."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from gemtrace import paths
from gemtrace.errors import GemtraceError
from gemtrace.record import MODES
from gemtrace.scrub import hide_password
from gemtrace.server import DEFAULT_PORT, ServerConfig

port_option = click.option(
    "--port",
    "-p",
    type=click.IntRange(1, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    envvar="PORT",
    help="Port of the local MLflow server on 127.0.0.1.",
)


tracking_uri_option = click.option(
    "--tracking-uri",
    default=None,
    metavar="URI",
    help="Where traces go: an MLflow server (http://HOST:PORT), databricks, or a database URI. "
    "Default: MLFLOW_TRACKING_URI, then the local server on --port, then the embedded store in "
    ".gemtrace/.",
)


def experiment_option(default: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--experiment",
        default=default,
        show_default=True,
        envvar="MLFLOW_EXPERIMENT_NAME",
        help="MLflow experiment that receives the traces (env: MLFLOW_EXPERIMENT_NAME). "
        "On Databricks it is a workspace path: /Users/you@example.com/gemtrace.",
    )


def mode_option(default: str, help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--mode", default=default, show_default=True, type=click.Choice([*MODES]), help=help
    )


def _config(port: int) -> ServerConfig:
    return ServerConfig(state_dir=paths.state_dir(), port=port)


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print gemtrace's own errors as one clear message, without a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GemtraceError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(1)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gemtrace")
def main() -> None:
    """Gemini calls replayed from cassettes and traced into a local MLflow, offline.

    Start with `gemtrace serve`, then `gemtrace demo`; open the printed links.
    """
    from gemtrace.tracing import go_offline, quiet_mlflow_logs

    go_offline()
    quiet_mlflow_logs()


@main.command()
@port_option
@click.option(
    "--backend-store-uri",
    envvar="GEMTRACE_BACKEND_STORE_URI",
    default=None,
    metavar="URI",
    help="Database for runs and traces, e.g. postgresql://USER:PASSWORD@HOST:5432/DB "
    "(env: GEMTRACE_BACKEND_STORE_URI; make serve BACKEND_STORE_URI=...). "
    "Default: SQLite in .gemtrace/.",
)
@click.option(
    "--artifacts-destination",
    envvar="GEMTRACE_ARTIFACTS_DESTINATION",
    default=None,
    metavar="URI",
    help="Where the server keeps artifacts (trace attachments), e.g. s3://BUCKET/PATH "
    "(env: GEMTRACE_ARTIFACTS_DESTINATION). Default: .gemtrace/artifacts.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Server worker processes. Default: 1 on SQLite (one writer at a time), "
    "4 on a database server.",
)
@friendly_errors
def serve(
    port: int, backend_store_uri: str | None, artifacts_destination: str | None, workers: int | None
) -> None:
    """Start the MLflow tracking server on 127.0.0.1, its state in .gemtrace/.

    Runs on SQLite unless --backend-store-uri names a database server; for a team, PostgreSQL
    (see docs/team-server.md). The database is checked first: a missing driver, a wrong password
    or a server that is down is reported in one line.
    """
    from gemtrace import server

    config = ServerConfig(
        state_dir=paths.state_dir(),
        port=port,
        store_uri=backend_store_uri,
        workers=workers,
        artifacts_destination=artifacts_destination,
    )
    shown = {"dots": 0}

    def progress(waited: float) -> None:
        if waited >= 1 + shown["dots"]:
            if shown["dots"] == 0:
                click.echo("Waiting for the MLflow server to answer", nl=False, err=True)
            click.echo(".", nl=False, err=True)
            shown["dots"] += 1

    try:
        running = server.start(config, progress=progress)
    finally:
        if shown["dots"]:
            click.echo("", err=True)
    if running.already_running:
        click.echo(f"The MLflow server is already running at {running.url} (pid {running.pid}).")
    else:
        click.echo(
            f"MLflow server ready at {running.url} (pid {running.pid}, "
            f"{config.worker_count} worker{'s' if config.worker_count > 1 else ''})."
        )
    click.echo(f"  store:     {running.store}")
    served = " (clients send them through the server)" if config.serves_artifacts else ""
    click.echo(f"  artifacts: {hide_password(config.artifacts_location)}{served}")
    click.echo(f"  log:       {config.log_file}")
    click.echo("Open the URL above for the UI; stop it with `make stop` (gemtrace stop).")


@main.command()
@friendly_errors
def stop() -> None:
    """Stop the local MLflow server and every process it started."""
    from gemtrace import server

    config = _config(DEFAULT_PORT)
    pid = server.stop(config)
    if pid is None:
        click.echo("No gemtrace MLflow server is running.")
    else:
        click.echo(f"Stopped the MLflow server (pid {pid}).")


@main.command()
@friendly_errors
def status() -> None:
    """Say whether the local MLflow server is running, and where."""
    from gemtrace import server

    config = _config(DEFAULT_PORT)
    running = server.status(config)
    if running is None:
        click.echo("No gemtrace MLflow server is running (start one with `make serve`).")
        sys.exit(3)
    health = "healthy" if server.is_healthy(running.url) else "not answering /health"
    click.echo(f"MLflow server at {running.url} (pid {running.pid}), {health}.")
    click.echo(f"  store: {running.store}")


@main.command()
@port_option
@experiment_option("gemtrace-demo")
@tracking_uri_option
@click.option(
    "--scenario",
    "-s",
    "names",
    multiple=True,
    metavar="NAME",
    help="Run only this scenario (repeatable). See --list.",
)
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
@friendly_errors
def demo(
    port: int, experiment: str, tracking_uri: str | None, names: tuple[str, ...], list_only: bool
) -> None:
    """Replay the tutorial's scenarios from cassettes, traced into MLflow.

    Needs no API key and no network. Prints each scenario's output, its trace id, a link to the
    trace in the MLflow UI and its span tree; exits non-zero if any scenario failed or any trace
    is missing from the store.
    """
    from gemtrace.scenarios import SCENARIOS, by_name

    if list_only:
        for scenario in SCENARIOS:
            click.echo(f"{scenario.name:20} {scenario.title} ({scenario.step}): {scenario.shows}")
        return
    from gemtrace import demo as demo_module
    from gemtrace import tracing

    chosen = by_name(names) if names else list(SCENARIOS)
    target = tracing.resolve_target(_config(port), tracking_uri)
    results = demo_module.run_demo(chosen, target, experiment, click.echo)
    if not all(result.ok for result in results):
        sys.exit(1)


@main.command()
@mode_option(
    "all",
    "Record mode: once = only missing cassettes, new_episodes = only missing requests, "
    "all = everything again.",
)
@click.option(
    "--scenario",
    "-s",
    "names",
    multiple=True,
    metavar="NAME",
    help="Record only this scenario (repeatable).",
)
@click.option(
    "--base-url",
    default=None,
    metavar="URL",
    envvar="GEMTRACE_GEMINI_BASE_URL",
    help="Send requests to this API base URL instead of Google's (a proxy, or a "
    "stand-in server in tests).",
)
@friendly_errors
def record(mode: str, names: tuple[str, ...], base_url: str | None) -> None:
    """Record the scenario cassettes against the live Gemini API.

    Reads the key from GEMINI_API_KEY (or GOOGLE_API_KEY). Keys, auth headers and volatile
    headers are never written; each file is scanned for secrets after writing.
    """
    import mlflow
    from google import genai

    from gemtrace.record import CassetteSession, require_api_key
    from gemtrace.scenarios import SCENARIOS, by_name

    chosen = by_name(names) if names else list(SCENARIOS)
    if mode in ("once", "all", "new_episodes"):
        require_api_key("gemtrace record")
    mlflow.tracing.disable()
    http_options = {"base_url": base_url} if base_url else None
    client = genai.Client(http_options=http_options)
    failed = []
    for number, scenario in enumerate(chosen, start=1):
        session = CassetteSession(
            scenario.cassette,
            mode,
            metadata={
                "scenario": scenario.name,
                "description": f"{scenario.title} ({scenario.step}).",
            },
        )
        click.echo(
            f"[{number}/{len(chosen)}] {scenario.name}: recording into {scenario.cassette} "
            f"(mode {mode}) ..."
        )
        try:
            with session:
                outputs = scenario.run(client)
        except Exception as error:  # one scenario's failure must not stop the others
            failed.append(scenario.name)
            click.echo(f"  FAILED, cassette left as it was: {type(error).__name__}: {error}")
            continue
        for output in outputs:
            click.echo(f"  {output}")
        click.echo(f"  {len(session.recorded)} new, {session.replayed} replayed interaction(s).")
    if failed:
        raise GemtraceError(f"{len(failed)} scenario(s) not recorded: {', '.join(failed)}.")


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option(
    "--cassette",
    type=click.Path(path_type=Path),
    default=None,
    help="Cassette file (default: cassettes/<script name>.json).",
)
@mode_option("none", "Record mode; none replays only.")
@experiment_option("gemtrace-run")
@tracking_uri_option
@port_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@friendly_errors
def run(
    cassette: Path | None,
    mode: str,
    experiment: str,
    tracking_uri: str | None,
    port: int,
    command: tuple[str, ...],
) -> None:
    """Run a Python program under a cassette, traced: gemtrace run -- python my_app.py ARGS

    The program's Gemini calls are answered from the cassette (or recorded, per --mode), MLflow
    autolog and gemtrace's extra spans are on, and the trace links are printed at the end. The
    program's exit code is kept.
    """
    from gemtrace import run as run_module
    from gemtrace import tracing

    program = run_module.parse(command)
    path = cassette or Path("cassettes") / f"{program.name}.json"
    target = tracing.resolve_target(_config(port), tracking_uri)
    sys.exit(run_module.run_program(program, path, mode, target, experiment, click.echo))


@main.group()
def traces() -> None:
    """Look at traces in the tracking store."""


@traces.command("show")
@click.argument("trace_id")
@port_option
@tracking_uri_option
@friendly_errors
def traces_show(trace_id: str, port: int, tracking_uri: str | None) -> None:
    """Show a trace's span tree: types, durations, token usage, tool calls."""
    from gemtrace import spantree, tracing

    target = tracing.resolve_target(_config(port), tracking_uri)
    tracing.connect(target)
    trace = tracing.fetch_trace(trace_id)
    info = trace.info
    state = getattr(info.state, "value", info.state)
    click.echo(f"trace {info.trace_id}  {state}  {info.execution_duration or 0} ms")
    if target.ui_url:
        experiment_id = getattr(info, "experiment_id", None)
        if experiment_id:
            click.echo(tracing.trace_url(target.ui_url, experiment_id, info.trace_id))
    for line in spantree.render(spantree.build(trace)):
        click.echo(line)


@main.group()
def cassettes() -> None:
    """Inspect and check cassette files."""


@cassettes.command("verify")
@click.argument("targets", nargs=-1, type=click.Path(path_type=Path))
@friendly_errors
def cassettes_verify(targets: tuple[Path, ...]) -> None:
    """Check cassettes: valid schema, no secret, every interaction well formed.

    TARGETS are files or folders (default: the scenario cassettes). Exits 1 on any problem.
    """
    from gemtrace.verify import check, expand

    files = expand(targets or [paths.scenario_cassette_dir()])
    if not files:
        raise GemtraceError(f"No cassette files found in {', '.join(map(str, targets))}.")
    problems = [problem for path in files for problem in check(path)]
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s) in {len(files)} cassette(s).", err=True)
        sys.exit(1)
    click.echo(f"{len(files)} cassette(s) OK.")


@cassettes.command("import")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Output file (one source) or folder (several); default: cassettes/<name>.json.",
)
@friendly_errors
def cassettes_import(sources: tuple[Path, ...], output: Path | None) -> None:
    """Convert vcrpy / pytest-recording YAML cassettes of Gemini calls into gemtrace cassettes.

    Bodies become readable JSON (gzip decoded, SSE split into events); headers and credentials
    are dropped and bodies scrubbed as the recorder does. Each new file is verified.
    """
    from gemtrace import cassette_file
    from gemtrace.importer import import_vcr
    from gemtrace.scrub import check_file, known_secrets

    for source in sources:
        cassette = import_vcr(source)
        if output is not None and len(sources) == 1 and output.suffix == ".json":
            target = output
        else:
            target = (output or Path("cassettes")) / f"{source.stem}.json"
        cassette_file.save(cassette, target)
        check_file(target, known_secrets())
        click.echo(
            f"{source} -> {target}: {len(cassette.interactions)} interaction(s), "
            f"models {', '.join(cassette.metadata['models']) or '?'}"
        )


@cassettes.command("list")
@click.argument("targets", nargs=-1, type=click.Path(path_type=Path))
@friendly_errors
def cassettes_list(targets: tuple[Path, ...]) -> None:
    """Show each cassette with its source, models, number of interactions and date."""
    from gemtrace import cassette_file
    from gemtrace.errors import CassetteError
    from gemtrace.verify import expand

    for path in expand(targets or [paths.scenario_cassette_dir()]):
        try:
            cassette = cassette_file.load(path)
        except CassetteError as error:
            click.echo(f"{path}  INVALID: {error}")
            continue
        meta = cassette.metadata
        models = ", ".join(meta.get("models") or []) or "?"
        click.echo(
            f"{path}  {cassette.source:9} {models}  "
            f"{len(cassette.interactions)} interaction(s)  {meta.get('created', '?')}"
        )


if __name__ == "__main__":
    main()
