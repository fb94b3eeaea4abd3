"""The latency targets of issue 5 judge every request sent, answered or not."""

from __future__ import annotations

import pytest

from benchmarks.open_loop import LoadResult
from benchmarks.targets import latency_verdicts

MS = 1_000_000


def run(*latencies_ms: float, unanswered: int = 0, errors: int = 0) -> LoadResult:
    nanoseconds = sorted(int(latency * MS) for latency in latencies_ms)
    return LoadResult(rate=1000, duration=1.0, completed=len(nanoseconds), answered=len(nanoseconds),
                      errors=errors, unanswered=unanswered, latencies_ns=nanoseconds, queued=0, late_sends=0)  # fmt: skip


def verdicts(*, ours: LoadResult, baseline: LoadResult) -> dict[str, bool | None]:
    return {
        verdict.target.split()[0]: verdict.passed
        for verdict in latency_verdicts(ours=[ours], baseline=[baseline])
    }


@pytest.mark.parametrize(
    ("ours", "baseline", "expected"),
    [
        pytest.param(run(1, 1, 2), run(1, 1, 2), {"p99": True, "no": True}, id="both-fast"),
        pytest.param(run(1, 1, 4), run(1, 1, 2), {"p99": False, "no": True}, id="p99-twice-the-baseline"),
        pytest.param(run(1, 1, 60), run(1, 1, 60), {"p99": True, "no": False}, id="one-request-over-50ms"),
        pytest.param(
            run(1, 1, 1, unanswered=500), run(1, 1, 1), {"p99": False, "no": False}, id="ours-unanswered"
        ),
        pytest.param(run(1, 1, 1, errors=1), run(1, 1, 1), {"p99": False, "no": False}, id="ours-failed"),
        pytest.param(
            run(1, 1, 1), run(1, 1, 1, unanswered=3), {"p99": None, "no": True}, id="baseline-unanswered"
        ),
    ],
)
def test_latency_targets(ours: LoadResult, baseline: LoadResult, expected: dict[str, bool | None]) -> None:
    assert verdicts(ours=ours, baseline=baseline) == expected


def test_a_run_with_lost_requests_says_how_many() -> None:
    (p99, slowest) = latency_verdicts(ours=[run(1, unanswered=500)], baseline=[run(1)])

    assert p99.measured == slowest.measured == "500 requests failed or went unanswered"
