"""pytest plugin (registered as ``gemtrace``): a cassette per test, record modes, trace snapshots.

    @pytest.mark.gemini_cassette
    def test_answer(trace_snapshot):
        assert my_app.answer("hot") == "cold"          # replayed from the test's cassette
        trace_snapshot(gemtrace.last_trace())          # compared with snapshots/<module>/<test>.json

Cassettes live beside the tests in ``cassettes/<test module>/<test name>.json`` (ini option
``gemini_cassette_dir`` to move them). ``--gemini-record-mode`` is ``none`` unless given, so CI never
calls the live API; ``--gemini-fail-on-unused`` fails tests that leave recorded interactions unused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gemtrace.errors import CassetteNotFound, MissingApiKey
from gemtrace.record import MODES, CassetteSession
from gemtrace.snapshot import assert_trace_snapshot

MARKER = "gemini_cassette"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gemtrace", "Gemini cassettes and trace snapshots (gemtrace)")
    group.addoption(
        "--gemini-record-mode",
        choices=MODES,
        default=None,
        help="none (replay only, the default), once, new_episodes or all.",
    )
    group.addoption(
        "--gemini-fail-on-unused",
        action="store_true",
        default=False,
        help="Fail a test whose cassette has interactions the test never used.",
    )
    group.addoption(
        "--snapshot-update",
        action="store_true",
        default=False,
        help="Write trace snapshots instead of comparing with them.",
    )
    parser.addini(
        "gemini_cassette_dir", "Cassette folder, relative to each test file.", default="cassettes"
    )
    parser.addini(
        "gemini_record_mode", "Record mode when --gemini-record-mode is not given.", default="none"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(path=None, *, mode=None, match_ignore=()): answer this test's google-genai "
        "requests from a cassette (default cassettes/<module>/<test>.json beside the test).",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_failed] = report.failed


_failed = pytest.StashKey[bool]()


def _test_name(item: pytest.Item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name).strip("_")


def cassette_path(item: pytest.Item) -> Path:
    marker = item.get_closest_marker(MARKER)
    test_file = Path(str(item.path))
    explicit = None
    if marker is not None:
        explicit = marker.kwargs.get("path") or (marker.args[0] if marker.args else None)
    if explicit:
        path = Path(explicit)
        return path if path.is_absolute() else test_file.parent / path
    folder = test_file.parent / item.config.getini("gemini_cassette_dir") / test_file.stem
    return folder / f"{_test_name(item)}.json"


def _mode(item: pytest.Item) -> str:
    option = item.config.getoption("--gemini-record-mode")
    marker = item.get_closest_marker(MARKER)
    from_marker = marker.kwargs.get("mode") if marker is not None else None
    return option or from_marker or item.config.getini("gemini_record_mode") or "none"


@pytest.fixture
def gemini_cassette(request: pytest.FixtureRequest) -> Iterator[CassetteSession]:
    """The test's cassette, active for the whole test; see the module docstring for the options."""
    item = request.node
    marker = item.get_closest_marker(MARKER)
    path = cassette_path(item)
    session = CassetteSession(
        path, _mode(item), match_ignore=marker.kwargs.get("match_ignore", ()) if marker else ()
    )
    try:
        session.__enter__()
    except CassetteNotFound:
        pytest.fail(
            f"{path}: this test has no cassette, and the record mode is 'none' (replay only). "
            f"Record it once with a key:\n    GEMINI_API_KEY=... pytest '{item.nodeid}' "
            "--gemini-record-mode=once\nthen commit the new file.",
            pytrace=False,
        )
    except MissingApiKey as error:
        pytest.fail(str(error), pytrace=False)
    failed = False
    try:
        yield session
    finally:
        failed = item.stash.get(_failed, False)
        error = RuntimeError("the test failed; nothing recorded") if failed else None
        session.__exit__(type(error) if error else None, error, None)
    unused = session.matcher.unused
    if unused and not failed and item.config.getoption("--gemini-fail-on-unused"):
        pytest.fail(
            f"{path}: the test never used {len(unused)} recorded interaction(s) "
            f"(indexes {', '.join(map(str, unused[:10]))}): the cassette is stale. Re-record it: "
            f"GEMINI_API_KEY=... pytest '{item.nodeid}' --gemini-record-mode=all",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _gemini_cassette_for_marked_tests(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker(MARKER) is not None:
        request.getfixturevalue("gemini_cassette")


@pytest.fixture
def trace_snapshot(request: pytest.FixtureRequest) -> Callable[..., None]:
    """``trace_snapshot(trace, name=None)``: compare with snapshots/<module>/<test>[-name].json."""
    item = request.node
    update = item.config.getoption("--snapshot-update")
    test_file = Path(str(item.path))

    def check(trace: Any, name: str | None = None) -> None:
        stem = _test_name(item) + (f"-{name}" if name else "")
        path = test_file.parent / "snapshots" / test_file.stem / f"{stem}.json"
        assert_trace_snapshot(trace, path, update=update or None)

    return check
