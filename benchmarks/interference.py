"""Other work on the machine: the benchmark cannot stop it, so it waits for a lull and reports what remained.

Each run counts how much of the server's CPU went to anything but the server (other processes, and the
hypervisor's steal time) while it was measured. A run where that share is high measured the neighbours.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)
"""user, nice, system, irq, softirq, steal: the columns of /proc/stat that are not idle or iowait."""


def busy_seconds(cpu: int) -> float:
    """CPU seconds spent on anything (or stolen by the hypervisor) on `cpu` since boot."""
    prefix = f"cpu{cpu} "
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(prefix):
            fields = line.split()[1:]
            return sum(int(fields[index]) for index in _BUSY_FIELDS) / _CLOCK_TICKS
    raise RuntimeError(f"/proc/stat has no line for CPU {cpu}")


def wait_for_quiet(cpus: Sequence[int], *, threshold: float, timeout: float) -> None:
    """Wait (at most `timeout` seconds) until the busiest of `cpus` is under `threshold` busy over a second.

    Only this process runs between runs, and it sleeps here, so what it sees is the neighbours' load.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = [busy_seconds(cpu) for cpu in cpus]
        time.sleep(1.0)
        if max(busy_seconds(cpu) - start for cpu, start in zip(cpus, before, strict=True)) < threshold:
            return
