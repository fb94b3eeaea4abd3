"""The targets judge our server against the Go comparator and the parse floor, and every request sent,
answered or not."""

from __future__ import annotations

import pytest

from benchmarks import wrk
from benchmarks.inputs import NAMES, TYPICAL
from benchmarks.measure import Sample, Validation
from benchmarks.open_loop import LoadResult
from benchmarks.targets import FLOOR_CPU_TARGET, THROUGHPUT_TARGET, judge, latency_verdicts

MS = 1_000_000


def run(*latencies_ms: float, unanswered: int = 0, errors: int = 0) -> LoadResult:
    nanoseconds = sorted(int(latency * MS) for latency in latencies_ms)
    return LoadResult(rate=1000, duration=1.0, completed=len(nanoseconds), answered=len(nanoseconds),
                      errors=errors, unanswered=unanswered, latencies_ns=nanoseconds, queued=0, late_sends=0)  # fmt: skip


def verdicts(*, ours: LoadResult, go: LoadResult) -> dict[str, bool | None]:
    return {verdict.target.split()[0]: verdict.passed for verdict in latency_verdicts(ours=[ours], go=[go])}


@pytest.mark.parametrize(
    ("ours", "go", "expected"),
    [
        pytest.param(run(1, 1, 2), run(1, 1, 2), {"p99": True, "no": True}, id="both-fast"),
        pytest.param(run(1, 1, 4), run(1, 1, 2), {"p99": False, "no": True}, id="p99-twice-go's"),
        pytest.param(run(1, 1, 2.2), run(1, 1, 2), {"p99": False, "no": True}, id="p99-a-little-over-go's"),
        pytest.param(run(1, 1, 1.5), run(1, 1, 2), {"p99": True, "no": True}, id="p99-under-go's"),
        pytest.param(run(1, 1, 60), run(1, 1, 60), {"p99": True, "no": False}, id="one-request-over-50ms"),
        pytest.param(
            run(1, 1, 1, unanswered=500), run(1, 1, 1), {"p99": False, "no": False}, id="ours-unanswered"
        ),
        pytest.param(run(1, 1, 1, errors=1), run(1, 1, 1), {"p99": False, "no": False}, id="ours-failed"),
        pytest.param(run(1, 1, 1), run(1, 1, 1, unanswered=3), {"p99": None, "no": True}, id="go-unanswered"),
    ],
)
def test_latency_targets(ours: LoadResult, go: LoadResult, expected: dict[str, bool | None]) -> None:
    assert verdicts(ours=ours, go=go) == expected


def test_a_run_with_lost_requests_says_how_many() -> None:
    (p99, slowest) = latency_verdicts(ours=[run(1, unanswered=500)], go=[run(1)])

    assert p99.measured == slowest.measured == "500 requests failed or went unanswered"


def sample(*, throughput: float = 1000.0, cpu_us: float = 100.0) -> Sample:
    """A run whose typical review saturated at `throughput` req/s costing `cpu_us` of CPU each."""
    saturated = wrk.WrkResult(
        requests=int(throughput), duration=1.0, errors=0, mean_latency=0.001, p99_latency=0.002
    )
    return Sample(
        ready_after=0.5, rss_idle=50_000_000, rss_under_load=60_000_000, rss_peak=70_000_000,
        open_loop={1000: run(1, 1, 1)}, open_loop_cpu={1000: cpu_us / 1e6},
        saturation=dict.fromkeys(NAMES, saturated), saturation_cpu=dict.fromkeys(NAMES, cpu_us / 1e6),
        saturation_busy=dict.fromkeys(NAMES, 1.0), validation=Validation(ours=run(1), wrk=saturated),
        interference=0.0,
    )  # fmt: skip


def speed(*, ours: Sample, go: Sample, floor_us: float) -> dict[str, bool | None]:
    verdicts = judge(ours=[ours], go=[go], parse_floor_cpu=[dict.fromkeys(NAMES, floor_us / 1e6)], cache=None)
    return {
        verdict.target.split(",")[0]: verdict.passed
        for verdict in verdicts
        if verdict.target.startswith(("saturation throughput", "server CPU per admission"))
    }


@pytest.mark.parametrize(
    ("throughput", "expected"),
    [(THROUGHPUT_TARGET * 1000, True), (THROUGHPUT_TARGET * 1000 - 20, False), (900.0, False)],
)
def test_throughput_is_judged_against_the_go_comparator(throughput: float, expected: bool) -> None:
    passed = speed(ours=sample(throughput=throughput), go=sample(throughput=1000), floor_us=100)

    assert passed["saturation throughput"] is expected


@pytest.mark.parametrize(
    ("cpu_us", "expected"), [(FLOOR_CPU_TARGET * 60, True), (FLOOR_CPU_TARGET * 60 + 5, False)]
)
def test_cpu_is_judged_against_the_parse_floor_not_the_go_comparator(cpu_us: float, expected: bool) -> None:
    passed = speed(ours=sample(cpu_us=cpu_us), go=sample(cpu_us=1.0), floor_us=60)

    assert passed["server CPU per admission"] is expected


def test_the_bare_app_sets_no_target() -> None:
    targets = [verdict.target for verdict in judge(ours=[sample()], go=[sample()], parse_floor_cpu=[
        dict.fromkeys(NAMES, 1e-4)], cache=None)]  # fmt: skip

    assert not [target for target in targets if "baseline" in target], targets
    assert TYPICAL in " ".join(targets)
