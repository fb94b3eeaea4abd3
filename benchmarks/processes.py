"""Start a server pinned to one CPU, wait for it to be ready, and read its CPU time and memory from /proc."""

from __future__ import annotations

import http.client
import os
import signal
import ssl
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_SCHED_STATS = Path("/proc/self/sched").exists()
_READY_POLL_S = 0.005


def pinned(command: Sequence[str], *, cpu: int | None) -> list[str]:
    """`command` bound to `cpu`, or left to the scheduler when `cpu` is None."""
    return list(command) if cpu is None else ["taskset", "--cpu-list", str(cpu), *command]


@dataclass(frozen=True, slots=True, kw_only=True)
class Readiness:
    host: str
    port: int
    ca_file: Path
    path: str = "/readyz"


class ServerProcess:
    """A server under test; `ready_after` is the time from spawning it to its first ready answer."""

    def __init__(self, popen: subprocess.Popen[bytes], *, log: Path, ready_after: float) -> None:
        self._popen = popen
        self._log = log
        self.ready_after = ready_after

    @classmethod
    def start(
        cls,
        command: Sequence[str],
        *,
        cpu: int | None,
        readiness: Readiness,
        log: Path,
        timeout: float = 60.0,
    ) -> ServerProcess:
        started = time.perf_counter()
        with log.open("wb") as output:
            popen = subprocess.Popen(pinned(command, cpu=cpu), stdout=output, stderr=subprocess.STDOUT)
        server = cls(popen, log=log, ready_after=0.0)
        try:
            server.ready_after = server._wait_ready(readiness, started=started, timeout=timeout)
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def pid(self) -> int:
        return self._popen.pid

    def cpu_seconds(self) -> float:
        """CPU time of the process so far: the scheduler's nanosecond count summed over its threads where the
        kernel exposes it (/proc/<pid>/task/*/sched), else user plus system time in 10 ms clock ticks."""
        if _SCHED_STATS:
            return sum(_sched_runtime(task) for task in Path(f"/proc/{self.pid}/task").iterdir())
        return self.tick_cpu_seconds()

    def tick_cpu_seconds(self) -> float:
        """User plus system time in clock ticks, as /proc/stat counts a CPU's: the two can be subtracted."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def rss_bytes(self) -> int:
        return self._status_kib("VmRSS") * 1024

    def peak_rss_bytes(self) -> int:
        """The high-water mark of resident memory since the process started."""
        return self._status_kib("VmHWM") * 1024

    def stop(self) -> None:
        if self._popen.poll() is None:
            self._popen.send_signal(signal.SIGTERM)
            try:
                self._popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait()

    def _status_kib(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
        raise RuntimeError(f"/proc/{self.pid}/status has no {key}")

    def _wait_ready(self, readiness: Readiness, *, started: float, timeout: float) -> float:
        context = ssl.create_default_context(cafile=str(readiness.ca_file))
        while True:
            if self._popen.poll() is not None:
                raise RuntimeError(
                    f"server exited with status {self._popen.returncode} before it was ready; "
                    f"its output:\n{self._log.read_text(errors='replace')[-4000:]}"
                )
            if _answers_ok(readiness, context):
                return time.perf_counter() - started
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"server not ready after {timeout:.0f} s; see {self._log}")
            time.sleep(_READY_POLL_S)


def _sched_runtime(task: Path) -> float:
    """Seconds a thread has run; 0 for one that ended while we looked."""
    try:
        text = (task / "sched").read_text()
    except FileNotFoundError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("se.sum_exec_runtime"):
            return float(line.rpartition(":")[2]) / 1000
    return 0.0


def _answers_ok(readiness: Readiness, context: ssl.SSLContext) -> bool:
    connection = http.client.HTTPSConnection(readiness.host, readiness.port, context=context, timeout=1)
    try:
        connection.request("GET", readiness.path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()
