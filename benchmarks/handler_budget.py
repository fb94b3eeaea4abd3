"""What the CPU target leaves for a webhook's handler on this stack, measured rather than assumed.

The baseline app is run again with a handler that only busy-waits a fixed time per request (no allocation,
no data touched). How much CPU per admission each of those costs shows what a microsecond of handler costs
the server at saturation — on this stack, more than a microsecond — and so how long a handler may take,
all in, before the server costs more than the target multiple of the baseline.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping

import msgspec

from webhook.server.admission_review import decode_review

SPIN_LADDER_US = (5, 15)
"""Busy-wait times measured, in µs: they bracket the 7 to 13 µs that 1.3x of the baseline allowed here."""


def spinner(microseconds: float) -> Callable[[bytes], None]:
    """A stand-in handler that holds the event loop for `microseconds` and does nothing else."""
    nanoseconds = int(microseconds * 1000)
    clock = time.perf_counter_ns

    def spin(_review: bytes) -> None:
        deadline = clock() + nanoseconds
        while clock() < deadline:
            pass

    return spin


class _NoFields(msgspec.Struct):
    """Decoding into a struct with no fields checks every byte of the JSON and builds nothing from it."""


scan_review = msgspec.json.Decoder(_NoFields).decode
"""A stand-in handler that reads the review's JSON to its end, checking it, and keeps nothing: the least a
webhook can do that must answer a request that is not JSON with HTTP 400."""


def handler_budget(*, baseline: float, spun: Mapping[float, float], ratio: float) -> float:
    """The busy-wait time (µs) at which the server's CPU per admission reaches `ratio` x `baseline`.

    `spun` maps each busy-wait time (µs) to the CPU per admission measured with it. Interpolated linearly
    between the measured points, starting from (0, baseline), and extrapolated from the last two beyond
    them; NaN when the points do not rise, as on a machine too noisy to tell.
    """
    points = [(0.0, baseline), *sorted(spun.items())]
    goal = ratio * baseline
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if y1 <= y0:
            return math.nan
        if goal <= y1 or (x1, y1) == points[-1]:
            return x0 + (goal - y0) * (x1 - x0) / (y1 - y0)
    return math.nan


def decoding_time(review: bytes, *, rounds: int = 5, repeat: int = 2000) -> float:
    """Seconds the webhook's decoder takes on `review` in a tight loop, best of `rounds`: the least any
    handler spends, to set against the budget."""
    best = math.inf
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(repeat):
            decode_review(review)
        best = min(best, (time.perf_counter() - started) / repeat)
    return best
