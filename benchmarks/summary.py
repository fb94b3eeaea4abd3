"""Repeated measurements reduced to a median and its spread, and paired ratios against the baseline."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Spread:
    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        finite = [sample for sample in samples if math.isfinite(sample)]
        if not finite:
            return cls(math.nan, math.nan, math.nan, 0)
        return cls(statistics.median(finite), min(finite), max(finite), len(finite))

    @classmethod
    def ratios(cls, ours: Sequence[float], baseline: Sequence[float]) -> Spread:
        """Run i of ours against run i of the baseline: they ran back to back, so they shared the noise."""
        return cls.of([a / b if b else math.nan for a, b in zip(ours, baseline, strict=True)])


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """The value at `fraction` (0.99 = p99) of ascending `ordered`, nearest rank; 1.0 is the maximum."""
    if not ordered:
        return math.nan
    return ordered[max(math.ceil(fraction * len(ordered)), 1) - 1]
