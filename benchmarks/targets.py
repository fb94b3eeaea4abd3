"""The targets, judged against the measured samples.

Speed is judged against what an operator would otherwise run, the Go comparator, and against the least any
webhook on our stack can cost, the parse floor (issue 17); the bare app stays in the report as information.
A target against the bare app measures the stack, not the webhook: no handler that reads its review can
meet one (issue 5's note). Ratios use the median of per-run ratios (each run of ours against the run beside
it); absolute limits (slowest request, memory, start-up) use the worst run, since an operator lives with
the worst.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks.inputs import LARGE, NO_ROLE, TYPICAL
from benchmarks.measure import Sample
from benchmarks.open_loop import LoadResult
from benchmarks.summary import Spread

LATENCY_RATE = 1000
LOOKUP_GROWTH = 3.0
"""Lookups are constant-time when the full cache's mean lookup is at most this many times the small one's."""
MB = 1e6
THROUGHPUT_TARGET = 1.5
"""Saturation throughput on the typical review, at least this multiple of the Go comparator's."""
P99_TARGET = 1.0
"""p99 at `LATENCY_RATE`, at most this multiple of the Go comparator's."""
FLOOR_CPU_TARGET = 1.5
"""Server CPU per admission on the typical review, at most this multiple of the parse floor's."""
CPU_TARGET = 1.3
"""Issue 5's former target, CPU per admission against the bare app: only the handler budget uses it now."""


@dataclass(frozen=True, slots=True)
class Verdict:
    target: str
    measured: str
    passed: bool | None
    """None when the plan did not measure it (a smoke run, or a missing piece)."""


@dataclass(frozen=True, slots=True)
class CacheFigure:
    """Memory and lookup time of the ServiceAccount cache holding many ServiceAccounts."""

    service_accounts: int
    extra_rss_bytes: int
    lookup_ns_small: float
    """Mean lookup time with 1,000 ServiceAccounts cached."""
    lookup_ns_large: float
    """Mean lookup time with all of them cached."""


def judge(
    *,
    ours: Sequence[Sample],
    go: Sequence[Sample],
    parse_floor_cpu: Sequence[dict[str, float]],
    cache: CacheFigure | None,
) -> list[Verdict]:
    """`parse_floor_cpu` holds, per run, the parse floor's CPU seconds per admission of each review."""

    def own(numerator: Callable[[Sample], float], denominator: Callable[[Sample], float]) -> Spread:
        return Spread.of([numerator(s) / denominator(s) for s in ours])

    verdicts = [
        _at_least(
            f"saturation throughput, typical review, ≥ {THROUGHPUT_TARGET:g}x the Go comparator's",
            Spread.ratios(
                [s.saturation[TYPICAL].throughput for s in ours],
                [s.saturation[TYPICAL].throughput for s in go],
            ),
            THROUGHPUT_TARGET,
        ),
        _at_most(
            f"server CPU per admission, typical review, ≤ {FLOOR_CPU_TARGET:g}x the parse floor's",
            Spread.ratios(
                [s.saturation_cpu[TYPICAL] for s in ours], [run[TYPICAL] for run in parse_floor_cpu]
            ),
            FLOOR_CPU_TARGET,
        ),
    ]
    if all(LATENCY_RATE in s.open_loop for s in [*ours, *go]):
        verdicts += latency_verdicts(
            ours=[s.open_loop[LATENCY_RATE] for s in ours], go=[s.open_loop[LATENCY_RATE] for s in go]
        )
    else:
        verdicts.append(Verdict(f"p99 and slowest request at {LATENCY_RATE} req/s", "not measured", None))
    verdicts += [
        _at_most(
            "the no-role pod costs no more CPU than the typical one",
            own(lambda s: s.saturation_cpu[NO_ROLE], lambda s: s.saturation_cpu[TYPICAL]),
            1.0,
        ),
        _at_most(
            "the 200 KB pod costs under 10x the typical one's CPU",
            own(lambda s: s.saturation_cpu[LARGE], lambda s: s.saturation_cpu[TYPICAL]),
            10.0,
            strict=True,
        ),
        _worst("RSS ≤ 80 MB under load", max(s.rss_under_load for s in ours) / MB, 80.0, unit="MB"),
        _worst("ready ≤ 1 s after start", max(s.ready_after for s in ours), 1.0, unit="s"),
    ]
    if cache is None:
        verdicts.append(
            Verdict(
                "100,000 ServiceAccounts cost ≤ 40 MB of extra RSS, constant-time lookups",
                "TODO: not measured (needs tests/fake_apiserver.py and the cache)",
                None,
            )
        )
    else:
        growth = cache.lookup_ns_large / cache.lookup_ns_small
        verdicts.append(
            Verdict(
                f"{cache.service_accounts:,} ServiceAccounts cost ≤ 40 MB of extra RSS",
                f"{cache.extra_rss_bytes / MB:.1f} MB",
                cache.extra_rss_bytes <= 40 * MB,
            )
        )
        verdicts.append(
            Verdict(
                "ServiceAccount lookups stay constant-time",
                f"{cache.lookup_ns_small:.0f} ns with 1,000 cached, {cache.lookup_ns_large:.0f} ns with "
                f"{cache.service_accounts:,} ({growth:.2f}x)",
                growth <= LOOKUP_GROWTH,
            )
        )
    return verdicts


def latency_verdicts(*, ours: Sequence[LoadResult], go: Sequence[LoadResult]) -> list[Verdict]:
    """p99 against the Go comparator's, and the slowest request, at `LATENCY_RATE`.

    Percentiles are taken over answered requests only, so a run where requests failed or went unanswered
    (each of which took at least the generator's 5 s grace) cannot pass either.
    """
    p99_target = f"p99 at {LATENCY_RATE} req/s ≤ the Go comparator's p99"
    slowest_target = f"no request over 50 ms at {LATENCY_RATE} req/s"
    failed_ours = sum(result.failed for result in ours)
    failed_go = sum(result.failed for result in go)
    if failed_ours:
        lost = f"{failed_ours} requests failed or went unanswered"
        return [Verdict(p99_target, lost, False), Verdict(slowest_target, lost, False)]
    slowest = max(result.percentile(1.0) for result in ours)
    slowest_verdict = Verdict(slowest_target, f"slowest {slowest * 1e3:.1f} ms", slowest <= 0.05)
    if failed_go:
        lost = f"not comparable: {failed_go} of the Go comparator's requests failed or went unanswered"
        return [Verdict(p99_target, lost, None), slowest_verdict]
    p99 = Spread.ratios([r.percentile(0.99) for r in ours], [r.percentile(0.99) for r in go])
    return [_at_most(p99_target, p99, P99_TARGET), slowest_verdict]


def _at_least(target: str, spread: Spread, limit: float) -> Verdict:
    return Verdict(target, _ratio_text(spread), None if math.isnan(spread.median) else spread.median >= limit)


def _at_most(target: str, spread: Spread, limit: float, *, strict: bool = False) -> Verdict:
    if math.isnan(spread.median):
        return Verdict(target, "not measured", None)
    passed = spread.median < limit if strict else spread.median <= limit
    return Verdict(target, _ratio_text(spread), passed)


def _worst(target: str, worst: float, limit: float, *, unit: str) -> Verdict:
    return Verdict(target, f"worst run {worst:.2f} {unit}", worst <= limit)


def _ratio_text(spread: Spread) -> str:
    return f"{spread.median:.2f}x (runs {spread.low:.2f}-{spread.high:.2f})"
