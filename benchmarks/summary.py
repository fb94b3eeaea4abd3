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
