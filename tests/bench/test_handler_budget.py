"""The handler budget: the busy-wait time at which the server reaches the CPU target, from measured points."""

from __future__ import annotations

import json
import math
import time

import msgspec
import pytest

from benchmarks.handler_budget import handler_budget, scan_review, spinner
from benchmarks.inputs import admission_review


@pytest.mark.parametrize(
    ("spun", "budget"),
    [
        pytest.param({5: 50e-6, 15: 70e-6}, 6.0, id="between-two-measured-points"),
        pytest.param({5: 60e-6, 15: 80e-6}, 3.0, id="between-the-baseline-and-the-first-point"),
        pytest.param({5: 44e-6, 15: 48e-6}, 25.0, id="beyond-the-last-point-extrapolated"),
        pytest.param({15: 70e-6, 5: 50e-6}, 6.0, id="points-in-any-order"),
    ],
)
def test_budget_is_where_the_cpu_reaches_the_target(spun: dict[float, float], budget: float) -> None:
    assert handler_budget(baseline=40e-6, spun=spun, ratio=1.3) == pytest.approx(budget)


@pytest.mark.parametrize(
    "spun",
    [
        pytest.param({}, id="nothing-measured"),
        pytest.param({5: 39e-6, 15: 60e-6}, id="cpu-fell-below-the-baseline"),
        pytest.param({5: 50e-6, 15: 45e-6}, id="cpu-fell-between-points"),
    ],
)
def test_budget_is_unknown_when_the_points_do_not_rise(spun: dict[float, float]) -> None:
    assert math.isnan(handler_budget(baseline=40e-6, spun=spun, ratio=1.3))


def test_spinner_holds_the_loop_at_least_as_long_as_asked() -> None:
    spin = spinner(2000)
    started = time.perf_counter()
    spin(b"{}")
    assert time.perf_counter() - started >= 0.002


def test_the_json_scan_reads_a_whole_review() -> None:
    review = admission_review(service_account="checkout", containers=2, env_per_container=3)

    scan_review(json.dumps(review).encode())


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"request": {"object": {"spec": [1, 2}}}', id="broken-deep-inside"),
        pytest.param(b'{"request": {}} trailing', id="trailing-bytes"),
        pytest.param(b'{"request": {"uid": "unterminated}}', id="unterminated-string"),
    ],
)
def test_the_json_scan_checks_every_byte(body: bytes) -> None:
    with pytest.raises(msgspec.DecodeError):
        scan_review(body)
