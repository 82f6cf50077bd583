"""Trace snapshots for CI: a trace's normalised span tree, compared with one stored as JSON.

Names, types, parent links, inputs, outputs and key attributes take part; ids, times, response ids
and MLflow's random ``traceparent`` do not, so two replays of one cassette give the same snapshot.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

from gemtrace import spantree

UPDATE_VARIABLE = "GEMTRACE_SNAPSHOT_UPDATE"


def snapshot_text(trace: Any) -> str:
    tree = spantree.normalised(spantree.build(trace))
    return json.dumps(tree, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"


def assert_trace_snapshot(
    trace: Any, path: str | os.PathLike[str], update: bool | None = None
) -> None:
    """Compare ``trace`` with the snapshot at ``path``; write it if missing or when updating.

    Under CI (``CI`` set) a missing snapshot fails instead of being written, so that a test can
    never pass by writing its own expectation. ``update`` defaults to GEMTRACE_SNAPSHOT_UPDATE
    (pytest: ``--snapshot-update``).
    """
    path = Path(path)
    if update is None:
        update = os.environ.get(UPDATE_VARIABLE, "") not in ("", "0", "false")
    actual = snapshot_text(trace)
    if update or not path.exists():
        if not update and os.environ.get("CI"):
            raise AssertionError(
                f"No trace snapshot at {path}, and CI does not write one. Run the test locally "
                "(or with --snapshot-update) and commit the file."
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(actual, encoding="utf-8")
        os.replace(tmp, path)
        return
    expected = path.read_text(encoding="utf-8")
    if expected != actual:
        diff = difflib.unified_diff(
            expected.splitlines(),
            actual.splitlines(),
            fromfile=f"{path} (snapshot)",
            tofile="this trace",
            lineterm="",
            n=3,
        )
        raise AssertionError(
            f"The trace differs from its snapshot {path}:\n"
            + "\n".join(list(diff)[:120])
            + "\nIf the change is intended, run again with --snapshot-update "
            f"(or {UPDATE_VARIABLE}=1) and commit the new snapshot."
        )
