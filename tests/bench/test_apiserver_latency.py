"""The API server's admission histogram read as PromQL reads it, and the baseline's do-nothing answer."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.apiserver_latency import EMPTY, Histogram
from benchmarks.baseline import allowed

BOUNDS = (0.005, 0.025, 0.1)


@pytest.mark.parametrize(
    ("counts", "fraction", "expected"),
    [
        pytest.param((10, 10, 10, 10), 0.5, 0.0025, id="all-in-the-first-bucket-interpolates-from-zero"),
        pytest.param((0, 10, 10, 10), 0.5, 0.015, id="inside-the-second-bucket"),
        pytest.param((5, 5, 10, 10), 0.75, 0.0625, id="skips-an-empty-bucket"),
        pytest.param((9, 9, 9, 10), 0.99, 0.1, id="in-the-infinite-bucket-gives-the-highest-bound"),
    ],
)
def test_quantile_interpolates_inside_its_bucket(
    counts: tuple[int, ...], fraction: float, expected: float
) -> None:
    assert Histogram(BOUNDS, counts).quantile(fraction) == pytest.approx(expected)


def test_a_phase_is_the_difference_of_two_scrapes_and_rounds_add_up() -> None:
    before, after = Histogram(BOUNDS, (3, 4, 4, 4)), Histogram(BOUNDS, (5, 8, 9, 9))

    phase = after - before

    assert phase == Histogram(BOUNDS, (2, 4, 5, 5))
    assert (EMPTY + phase + phase).counts == (4, 8, 10, 10)
    assert phase.total == 5
    assert phase.first_bucket_share() == pytest.approx(0.4)


def test_an_unused_webhook_has_no_percentiles() -> None:
    assert EMPTY.total == 0
    assert math.isnan(EMPTY.quantile(0.5))


@pytest.mark.parametrize("version", ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"])
def test_baseline_allows_with_the_request_uid_and_no_patch(version: str) -> None:
    review = {"apiVersion": version, "kind": "AdmissionReview", "request": {"uid": "abc-123", "object": {}}}

    answer = json.loads(allowed(json.dumps(review).encode()))

    assert answer == {
        "apiVersion": version,
        "kind": "AdmissionReview",
        "response": {"uid": "abc-123", "allowed": True},
    }
