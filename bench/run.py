"""`make bench`: gemtrace's costs, each beside a baseline measured in the same run.

These machines are shared and noisy, so every figure is a median over repeats and is read as a
ratio to its baseline, never as an absolute time. Results go to the terminal and to
bench/results.json (with the core count and versions, so runs can be compared).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.update(
    MLFLOW_DISABLE_TELEMETRY="true",
    MLFLOW_MODEL_CATALOG_URI="",
    MLFLOW_ENABLE_ASYNC_TRACE_LOGGING="false",
)
os.environ.pop("MLFLOW_TRACKING_URI", None)

import httpx  # noqa: E402
import respx  # noqa: E402
from google import genai  # noqa: E402

import gemtrace  # noqa: E402
from gemtrace import cassette_file, server  # noqa: E402
from gemtrace.cassette_file import Cassette, Interaction, RecordedRequest, RecordedResponse  # noqa: E402
from gemtrace.standin import StandIn  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = "gemini-3-flash-preview"
API = "https://generativelanguage.googleapis.com"
N = int(os.environ.get("BENCH_N", "200"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
rows: list[dict[str, Any]] = []


def answer(i: int) -> dict:
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": f"answer {i}"}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7},
        "modelVersion": MODEL,
        "responseId": f"r{i}",
    }


def prompt(i: int) -> str:
    return f"Question number {i}: what comes next?"


def request_body(i: int) -> dict:
    return {"contents": [{"parts": [{"text": prompt(i)}], "role": "user"}]}


def make_cassette(path: Path, size: int, stream: bool = False) -> Path:
    suffix = ":streamGenerateContent?alt=sse" if stream else ":generateContent"
    interactions = [
        Interaction(
            RecordedRequest("POST", f"{API}/v1/models/{MODEL}{suffix}", request_body(i)),
            RecordedResponse(200, {"content-type": "text/event-stream"}, events=[answer(i)] * 3)
            if stream
            else RecordedResponse(200, {"content-type": "application/json"}, body=answer(i)),
        )
        for i in range(size)
    ]
    return cassette_file.save(
        Cassette(metadata={"source": "authored"}, interactions=interactions), path
    )


def median_per_call(
    run: Callable[[], None],
    calls: int,
    around: Callable[[], Any] | None = None,
    repeats: int | None = None,
) -> float:
    """Median over REPEATS of the time per call, in ms (one warm-up run first).

    ``around`` gives a context manager entered before the timer starts and left after it stops:
    what a block costs once (loading a cassette) is not a per-request cost.
    """
    samples = []
    for attempt in range((repeats or REPEATS) + 1):
        with around() if around else _nothing():
            started = time.perf_counter()
            run()
            elapsed = time.perf_counter() - started
        if attempt:
            samples.append(elapsed * 1000 / calls)
    return statistics.median(samples)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def record(
    group: str,
    name: str,
    value: float,
    baseline: float | None,
    unit: str = "ms/call",
    note: str = "",
) -> None:
    ratio = value / baseline if baseline else None
    rows.append(
        {
            "group": group,
            "name": name,
            "value": round(value, 4),
            "unit": unit,
            "ratio_to_baseline": round(ratio, 3) if ratio else None,
            "note": note,
        }
    )
    shown = f"{ratio:6.2f}x" if ratio else "  base "
    print(f"  {name:52} {value:10.3f} {unit:8} {shown}  {note}", flush=True)


# -- replay overhead ------------------------------------------------------------------------------


def sync_calls(client: genai.Client, count: int, offset: int = 0) -> Callable[[], None]:
    def run() -> None:
        for i in range(offset, offset + count):
            client.models.generate_content(model=MODEL, contents=prompt(i))

    return run


def async_calls(client: genai.Client, count: int) -> Callable[[], None]:
    async def main() -> None:
        for i in range(count):
            await client.aio.models.generate_content(model=MODEL, contents=prompt(i))

    return lambda: asyncio.run(main())


def stream_calls(client: genai.Client, count: int) -> Callable[[], None]:
    def run() -> None:
        for i in range(count):
            for _ in client.models.generate_content_stream(model=MODEL, contents=prompt(i)):
                pass

    return run


def floor_router(stream: bool) -> Any:
    """The floor: a bare respx route answering fixed bytes, on both SDK backends."""
    body = json.dumps(answer(0)).encode()
    sse = b"".join(b"data: " + body + b"\r\n\r\n" for _ in range(3))

    def side_effect(request: httpx.Request) -> httpx.Response:
        if stream:
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse)
        return httpx.Response(200, headers={"content-type": "application/json"}, content=body)

    routers = []
    for using in ("httpcore", "httpcore2"):
        router = respx.MockRouter(using=using, assert_all_called=False)
        router.route().mock(side_effect=side_effect)
        routers.append(router)
    return routers


class Floor:
    def __init__(self, stream: bool = False) -> None:
        self.routers = floor_router(stream)

    def __enter__(self) -> None:
        from google.genai import _api_client

        self._aiohttp = _api_client.has_aiohttp
        _api_client.has_aiohttp = False
        for router in self.routers:
            router.start()

    def __exit__(self, *exc: Any) -> None:
        from google.genai import _api_client

        for router in self.routers:
            router.stop()
        _api_client.has_aiohttp = self._aiohttp


def bench_replay(work: Path) -> None:
    print(
        f"\nReplay overhead per generate_content call ({N} sequential calls, median of {REPEATS})"
    )
    client = genai.Client(api_key="bench")
    kinds = {"sync": sync_calls, "async": async_calls, "streaming": stream_calls}
    for kind, make_calls in kinds.items():
        stream = kind == "streaming"
        path = make_cassette(work / f"{kind}.json", N, stream=stream)
        calls = make_calls(client, N)
        floor = median_per_call(calls, N, around=lambda stream=stream: Floor(stream))
        record(f"replay-{kind}", f"{kind}: bare respx route, fixed bytes (floor)", floor, None)
        replay = median_per_call(calls, N, around=lambda path=path: gemtrace.cassette(path))
        record(f"replay-{kind}", f"{kind}: gemtrace.cassette", replay, floor)
        vcr_ms = bench_vcrpy(work / f"vcr-{kind}.yaml", make_calls, stream)
        record(f"replay-{kind}", f"{kind}: vcrpy 9.4, match on body (httpx backend)", vcr_ms, floor)
        genai_ms = bench_genai_replay(work / f"genai-{kind}", make_calls, stream)
        record(f"replay-{kind}", f"{kind}: google-genai replay client", genai_ms, floor)


def standin_answers(stream: bool) -> list[RecordedResponse]:
    if stream:
        return [
            RecordedResponse(200, {"content-type": "text/event-stream"}, events=[answer(i)] * 3)
            for i in range(N)
        ]
    return [
        RecordedResponse(200, {"content-type": "application/json"}, body=answer(i))
        for i in range(N)
    ]


def bench_vcrpy(
    cassette: Path, make_calls: Callable[..., Callable[[], None]], stream: bool
) -> float:
    import vcr

    os.environ["GOOGLE_GENAI_HTTP_CLIENT"] = "httpx"  # vcrpy patches httpx, not httpx2
    from google.genai import _api_client

    saved, _api_client.has_aiohttp = _api_client.has_aiohttp, False  # nor aiohttp's SDK path
    try:
        with StandIn(standin_answers(stream)) as api:
            live = genai.Client(api_key="bench", http_options={"base_url": api.url})
            recorder = vcr.VCR(record_mode="once", match_on=["method", "path", "body"])
            with recorder.use_cassette(str(cassette)):
                make_calls(live, N)()
        replayer = vcr.VCR(record_mode="none", match_on=["method", "path", "body"])
        replay_client = genai.Client(api_key="bench", http_options={"base_url": api.url})
        return median_per_call(
            make_calls(replay_client, N), N, around=lambda: replayer.use_cassette(str(cassette))
        )
    finally:
        os.environ.pop("GOOGLE_GENAI_HTTP_CLIENT", None)
        _api_client.has_aiohttp = saved


def bench_genai_replay(
    directory: Path, make_calls: Callable[..., Callable[[], None]], stream: bool
) -> float:
    from google.genai.client import DebugConfig

    replay_id = "bench/calls/mldev"

    def client_in(mode: str, base_url: str) -> genai.Client:
        return genai.Client(
            api_key="bench",
            http_options={"base_url": base_url},
            debug_config=DebugConfig(
                client_mode=mode, replays_directory=str(directory), replay_id=replay_id
            ),
        )

    # The SDK's replay client prints a DEBUG block for every request; keep it off the terminal.
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        with StandIn(standin_answers(stream)) as api:
            recorder = client_in("record", api.url)
            make_calls(recorder, N)()
            recorder._api_client.close()
            base_url = api.url
        client = client_in("replay", base_url)

        class Session:
            def __enter__(self) -> None:
                client._api_client.initialize_replay_session(replay_id)

            def __exit__(self, *exc: Any) -> None:
                return None

        return median_per_call(make_calls(client, N), N, around=Session)


# -- lookup scaling -------------------------------------------------------------------------------


def bench_lookup(work: Path) -> None:
    print(f"\nLookup: time per call against cassettes of growing size (up to {N} calls each)")
    client = genai.Client(api_key="bench")
    base = None
    for size in (10, 1000, 10000):
        path = make_cassette(work / f"size-{size}.json", size)
        calls = min(N, size)
        step = size // calls
        picks = [i * step for i in range(calls)]

        def run(picks: list[int] = picks) -> None:
            for i in picks:
                client.models.generate_content(model=MODEL, contents=prompt(i))

        # The cassette is loaded once per block, outside the timer: lookup is what could grow.
        value = median_per_call(
            run,
            calls,
            around=lambda path=path: gemtrace.cassette(path),
            repeats=max(REPEATS, REPEATS * N // calls // 4),
        )
        base = base or value
        record("lookup", f"{size:>6} interactions", value, base if size != 10 else None)


# -- tracing cost ---------------------------------------------------------------------------------


def bench_tracing(work: Path) -> None:
    import mlflow

    from gemtrace import extras, tracing

    calls = min(N, 50)
    print(f"\nTracing cost: {calls} replayed calls, traced or not, counted in the store")
    client = genai.Client(api_key="bench")
    path = make_cassette(work / "traced.json", calls)

    replay = sync_calls(client, calls)

    def block() -> Any:
        return gemtrace.cassette(path)

    untraced = median_per_call(replay, calls, around=block)
    record("tracing", "no tracing", untraced, None)
    config = server.ServerConfig(state_dir=work / "server", port=free_port())
    server.start(config)
    try:
        for label, target in (
            ("local server", tracing.Target(config.url, "bench server", ui_url=config.url)),
            ("embedded store", tracing.Target(f"sqlite:///{work}/embedded.db", "bench embedded")),
        ):
            for with_extras in (False, True):
                experiment = f"bench-{label}-{with_extras}".replace(" ", "-")
                tracing.configure(target, experiment, extras=with_extras)
                if not with_extras:
                    extras.autolog(disable=True)
                value = median_per_call(replay, calls, around=block)
                experiment_id = mlflow.get_experiment_by_name(experiment).experiment_id
                arrived = len(
                    mlflow.search_traces(
                        locations=[experiment_id], return_type="list", max_results=5000
                    )
                )
                expected = calls * (REPEATS + 1)
                name = f"autolog{' + gemtrace extras' if with_extras else ''}, {label}"
                record(
                    "tracing", name, value, untraced, note=f"{arrived}/{expected} traces arrived"
                )
                mlflow.gemini.autolog(disable=True)
                extras.autolog(disable=True)
    finally:
        server.stop(config)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- serve and demo -------------------------------------------------------------------------------


def time_to_healthy(command: list[str], url: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    try:
        while not server.is_healthy(url, timeout=1.0):
            if process.poll() is not None:
                raise RuntimeError(f"{command[:4]} exited early")
            time.sleep(0.1)
        return time.perf_counter() - started
    finally:
        os.killpg(process.pid, 15)
        process.wait()


def bench_serve(work: Path, repeats: int = 2) -> None:
    print(f"\nServer: time until /health answers (median of {repeats})")
    plain, ours = [], []
    for run in range(repeats):
        port = free_port()
        store = f"sqlite:///{work}/plain-{run}.db"
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
        plain.append(
            time_to_healthy(
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "server",
                    "--port",
                    str(port),
                    "--backend-store-uri",
                    store,
                ],
                f"http://127.0.0.1:{port}",
                env,
            )
        )
        config = server.ServerConfig(state_dir=work / f"serve-{run}", port=free_port())
        started = time.perf_counter()
        server.start(config)
        ours.append(time.perf_counter() - started)
        server.stop(config)
    baseline = statistics.median(plain)
    record("serve", "mlflow server, default settings", baseline, None, unit="s")
    record("serve", "gemtrace serve (make serve)", statistics.median(ours), baseline, unit="s")


def bench_demo(work: Path, repeats: int = 3) -> None:
    print(f"\nDemo: wall time of a fresh process (median of {repeats})")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    demo = [sys.executable, "-m", "gemtrace.cli", "demo"]
    floor, served, embedded = [], [], []
    config = server.ServerConfig(state_dir=work / "demo-server", port=free_port())
    server.start(config)
    try:
        for run in range(repeats):
            floor.append(timed([sys.executable, "-c", "import mlflow, google.genai"], env))
            served.append(
                timed(
                    [*demo, "--port", str(config.port)],
                    {**env, "GEMTRACE_STATE_DIR": str(config.state_dir)},
                )
            )
            embedded.append(
                timed(
                    [*demo, "--port", str(free_port())],
                    {**env, "GEMTRACE_STATE_DIR": str(work / f"demo-{run}")},
                )
            )
    finally:
        server.stop(config)
    baseline = statistics.median(floor)
    record("demo", "python -c 'import mlflow, google.genai' (floor)", baseline, None, unit="s")
    record(
        "demo",
        "gemtrace demo, into the local server (make serve)",
        statistics.median(served),
        baseline,
        unit="s",
    )
    record(
        "demo",
        "gemtrace demo, first run: creates the embedded store",
        statistics.median(embedded),
        baseline,
        unit="s",
        note="includes MLflow's schema migrations",
    )


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def main() -> int:
    started = time.perf_counter()
    import mlflow
    from google.genai import version as genai_version

    print(
        f"gemtrace bench: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"google-genai {genai_version.__version__}, mlflow {mlflow.__version__}"
    )
    work = Path(tempfile.mkdtemp(prefix="gemtrace-bench-"))
    try:
        bench_replay(work)
        bench_lookup(work)
        bench_tracing(work)
        bench_serve(work)
        bench_demo(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = {
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "versions": {
            "google-genai": genai_version.__version__,
            "mlflow": mlflow.__version__,
            "gemtrace": gemtrace.__version__,
            "respx": respx.__version__,
        },
        "settings": {"calls": N, "repeats": REPEATS},
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    out = ROOT / "bench" / "results.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out} ({results['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
