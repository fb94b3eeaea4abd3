"""One run of one server: start it, load it in every way the plan says, and record what it cost."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks import wrk
from benchmarks.inputs import NAMES, TYPICAL
from benchmarks.interference import busy_seconds
from benchmarks.open_loop import LoadResult, Target, closed_loop, open_loop
from benchmarks.processes import Readiness, ServerProcess

SERVER_CPU = 0
LOAD_CPU = 1
HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    runs: int
    rates: tuple[int, ...]
    open_loop_seconds: float
    warmup_seconds: float
    open_loop_connections: int
    saturation_seconds: int
    saturation_connections: int
    validation_seconds: int
    settle_seconds: float
    """Pause between ready and the idle memory reading, so start-up work has finished."""
    quiet_wait_seconds: float
    """How long to wait before each run for the neighbours' load to drop."""


FULL = Plan(
    runs=5,
    rates=(200, 1000, 3000),
    open_loop_seconds=15.0,
    warmup_seconds=2.0,
    open_loop_connections=32,
    saturation_seconds=8,
    saturation_connections=16,
    validation_seconds=4,
    settle_seconds=1.0,
    quiet_wait_seconds=60.0,
)
QUICK = Plan(
    runs=2,
    rates=(200, 1000),
    open_loop_seconds=5.0,
    warmup_seconds=1.0,
    open_loop_connections=32,
    saturation_seconds=4,
    saturation_connections=16,
    validation_seconds=2,
    settle_seconds=0.5,
    quiet_wait_seconds=20.0,
)
"""A few minutes for a first look: the figures an operator sizes by (1,000 req/s, saturation), shorter."""
SMOKE = Plan(
    runs=1,
    rates=(20, 50, 100),
    open_loop_seconds=0.5,
    warmup_seconds=0.1,
    open_loop_connections=4,
    saturation_seconds=1,
    saturation_connections=4,
    validation_seconds=1,
    settle_seconds=0.1,
    quiet_wait_seconds=0.0,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Server:
    """A server under test: how to start it, and the path each input is posted to."""

    name: str
    command: list[str]
    port: int
    paths: dict[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Validation:
    """Our generator and wrk, one connection each, on the typical review: they must agree."""

    ours: LoadResult
    wrk: wrk.WrkResult


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    ready_after: float
    rss_idle: int
    rss_under_load: int
    """Resident memory high-water mark after the typical-review load."""
    rss_peak: int
    """High-water mark after every phase, 200 KB reviews included."""
    open_loop: dict[int, LoadResult]
    open_loop_cpu: dict[int, float]
    """Server CPU seconds per admission at each fixed rate."""
    saturation: dict[str, wrk.WrkResult]
    saturation_cpu: dict[str, float]
    saturation_busy: dict[str, float]
    """Server CPU seconds per second under wrk: near 1.0 means the server, not wrk, was the limit."""
    validation: Validation
    interference: float
    """Share of the server's CPU that other processes (or the hypervisor) took while it was loaded."""

    @property
    def errors(self) -> int:
        return (
            sum(result.failed for result in self.open_loop.values())
            + sum(result.errors for result in self.saturation.values())
            + self.validation.ours.failed
            + self.validation.wrk.errors
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Setup:
    """What every run shares: the request bodies, their wrk scripts and the CA that signed the server."""

    bodies: dict[str, Path]
    scripts: dict[str, Path]
    ca_file: Path
    logs: Path


def start(server: Server, setup: Setup, *, cpu: int, label: str) -> ServerProcess:
    """Start `server` pinned to `cpu` and wait until it is ready; its output goes to the `label` log."""
    return ServerProcess.start(
        server.command,
        cpu=cpu,
        readiness=Readiness(host=HOST, port=server.port, ca_file=setup.ca_file),
        log=setup.logs / f"{server.name}-{label}.log",
    )


def measure(server: Server, *, plan: Plan, setup: Setup, run: int) -> Sample:
    process = start(server, setup, cpu=SERVER_CPU, label=str(run))
    try:
        time.sleep(plan.settle_seconds)
        rss_idle = process.rss_bytes()
        started = time.monotonic()
        busy_before = busy_seconds(SERVER_CPU)
        server_before = process.tick_cpu_seconds()
        open_loop_results, open_loop_cpu = _open_loops(server, process, plan=plan, setup=setup)
        saturation = _saturate(server, process, plan=plan, setup=setup)
        # Ticks against ticks: the scheduler's nanosecond count runs ahead of /proc/stat's ticks for a server
        # that keeps sleeping and waking, which would hide other work behind a negative difference.
        others = busy_seconds(SERVER_CPU) - busy_before - (process.tick_cpu_seconds() - server_before)
        interference = max(others, 0.0) / (time.monotonic() - started)
        validation = Validation(
            ours=closed_loop(
                _target(server, setup, TYPICAL), duration=plan.validation_seconds, warmup=0.2, connections=1
            ),
            wrk=_wrk(server, setup, TYPICAL, connections=1, plan=plan, seconds=plan.validation_seconds),
        )
        return Sample(
            ready_after=process.ready_after,
            rss_idle=rss_idle,
            rss_under_load=saturation.rss_after_typical,
            rss_peak=process.peak_rss_bytes(),
            open_loop=open_loop_results,
            open_loop_cpu=open_loop_cpu,
            saturation=saturation.results,
            saturation_cpu=saturation.cpu,
            saturation_busy=saturation.busy,
            validation=validation,
            interference=interference,
        )
    finally:
        process.stop()


def measure_cpu(
    server: Server, *, plan: Plan, setup: Setup, run: int, names: Sequence[str] = NAMES
) -> dict[str, float]:
    """Only the CPU seconds per admission of each review at saturation: all the parse floor and the
    handler budget are measured for."""
    process = start(server, setup, cpu=SERVER_CPU, label=str(run))
    try:
        return _saturate(server, process, plan=plan, setup=setup, names=names).cpu
    finally:
        process.stop()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Saturation:
    results: dict[str, wrk.WrkResult]
    cpu: dict[str, float]
    busy: dict[str, float]
    rss_after_typical: int


def _saturate(
    server: Server, process: ServerProcess, *, plan: Plan, setup: Setup, names: Sequence[str] = NAMES
) -> _Saturation:
    """wrk on each review in turn, with the server's CPU seconds per admission and per second of it."""
    results: dict[str, wrk.WrkResult] = {}
    cpu: dict[str, float] = {}
    busy: dict[str, float] = {}
    rss_after_typical = 0
    for name in names:
        before = process.cpu_seconds()
        results[name] = _wrk(server, setup, name, connections=plan.saturation_connections, plan=plan)
        spent = process.cpu_seconds() - before
        cpu[name] = spent / max(results[name].requests, 1)
        busy[name] = spent / results[name].duration
        if name == TYPICAL:
            rss_after_typical = process.peak_rss_bytes()
    return _Saturation(results=results, cpu=cpu, busy=busy, rss_after_typical=rss_after_typical)


def _open_loops(
    server: Server, process: ServerProcess, *, plan: Plan, setup: Setup
) -> tuple[dict[int, LoadResult], dict[int, float]]:
    """Latency at each fixed rate, and the server's CPU seconds per admission at that rate."""
    results: dict[int, LoadResult] = {}
    cpu: dict[int, float] = {}
    typical = _target(server, setup, TYPICAL)
    for rate in plan.rates:
        before = process.cpu_seconds()
        results[rate] = open_loop(
            typical,
            rate=rate,
            duration=plan.open_loop_seconds,
            warmup=plan.warmup_seconds,
            connections=plan.open_loop_connections,
        )
        cpu[rate] = (process.cpu_seconds() - before) / max(results[rate].answered, 1)
    return results, cpu


def _wrk(
    server: Server, setup: Setup, name: str, *, connections: int, plan: Plan, seconds: int | None = None
) -> wrk.WrkResult:
    return wrk.saturate(
        url=f"https://{HOST}:{server.port}{server.paths[name]}",
        script=setup.scripts[name],
        connections=connections,
        seconds=seconds or plan.saturation_seconds,
        cpu=LOAD_CPU,
    )


def _target(server: Server, setup: Setup, name: str) -> Target:
    return Target(
        host=HOST,
        port=server.port,
        path=server.paths[name],
        body=setup.bodies[name].read_bytes(),
        ca_file=setup.ca_file,
    )
