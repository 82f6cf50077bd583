"""``gemtrace run -- python my_app.py ARGS``: any Python program, under a cassette, traced.

The program runs in this process (as ``python`` would run it: ``__main__``, its own ``sys.argv``
and ``sys.path[0]``), inside a cassette and with MLflow autolog and gemtrace's extra spans on, so a
user traces their own program offline without editing it. Its exit code is kept.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gemtrace import spantree, tracing
from gemtrace.errors import GemtraceError
from gemtrace.record import CassetteSession
from gemtrace.tracing import Target


@dataclass
class Program:
    """What ``python ...`` would run: a script path or a module, and its arguments."""

    script: Path | None
    module: str | None
    args: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.script.stem if self.script else (self.module or "program").rsplit(".", 1)[-1]

    def run(self) -> None:
        if self.script is not None:
            sys.argv = [str(self.script), *self.args]
            sys.path.insert(0, str(self.script.resolve().parent))
            runpy.run_path(str(self.script), run_name="__main__")
        else:
            sys.argv = [self.module or "", *self.args]
            sys.path.insert(0, os.getcwd())
            runpy.run_module(self.module or "", run_name="__main__", alter_sys=True)


def parse(command: Sequence[str]) -> Program:
    if not command or not Path(command[0]).name.startswith("python"):
        raise GemtraceError(
            "gemtrace run runs Python programs: give the command after --, as "
            "`gemtrace run -- python my_app.py ARGS` or `gemtrace run -- python -m my_package ARGS`."
        )
    rest = list(command[1:])
    if rest[:1] == ["-m"] and len(rest) >= 2:
        return Program(script=None, module=rest[1], args=rest[2:])
    if not rest or rest[0].startswith("-"):
        raise GemtraceError(
            f"Cannot run {' '.join(command)!r}: give a script (python my_app.py) or a module "
            "(python -m my_package); interpreter options are not supported."
        )
    script = Path(rest[0])
    if not script.is_file():
        raise GemtraceError(
            f"{script}: no such script. Check the path (relative to {os.getcwd()})."
        )
    return Program(script=script, module=None, args=rest[1:])


def exit_code(stop: SystemExit) -> int:
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code
    print(stop.code, file=sys.stderr)
    return 1


def run_program(
    program: Program,
    cassette: Path,
    mode: str,
    target: Target,
    experiment: str,
    echo: Callable[[str], None],
) -> int:
    """Run the program; print its trace links; its exit code (1 if it raised)."""
    experiment_id = tracing.configure(target, experiment)
    collector = tracing.TraceCollector()
    code = 0
    with collector.capture() as trace_ids:
        try:
            with CassetteSession(cassette, mode):
                try:
                    program.run()
                except SystemExit as stop:
                    code = exit_code(stop)
                    if code != 0:
                        raise
        except SystemExit:
            pass
        except GemtraceError as error:
            print(f"Error: {error}", file=sys.stderr)
            code = 1
        except BaseException:  # the program's own failure: show it as python would
            traceback.print_exc()
            code = 1
    sys.stdout.flush()
    traces = tracing.fetch_traces(list(trace_ids))
    echo("")
    echo(f"gemtrace run: {len(traces)} trace(s) in {target.description}.")
    for trace in traces:
        trace_id = trace.info.trace_id
        link = tracing.trace_url(target.ui_url, experiment_id, trace_id) if target.ui_url else ""
        root = spantree.build(trace)
        echo(f"  {trace_id}  {root.name}  {link}".rstrip())
    return code
