"""Closed-loop saturation with wrk (Debian's package; scripts/ensure-wrk installs it).

wrk keeps every connection busy, so its request rate is the most the server can answer. A Lua script
gives it the review body and the API server's headers, and prints the summary as one JSON line that we
parse instead of wrk's human-readable text.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarks.processes import pinned

_MARKER = "WRK_RESULT "
_SCRIPT = """\
local file = assert(io.open(%(body)s, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, */*"
wrk.headers["User-Agent"] = "kube-apiserver-admission"

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '%(marker)s{"requests":%%d,"duration_us":%%d,"errors":%%d,"non_2xx":%%d,"mean_us":%%f,"p99_us":%%d}\\n',
    summary.requests, summary.duration,
    errors.connect + errors.read + errors.write + errors.timeout, errors.status,
    latency.mean, latency:percentile(99)))
end
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class WrkResult:
    requests: int
    duration: float
    errors: int
    mean_latency: float
    p99_latency: float

    @property
    def throughput(self) -> float:
        return self.requests / self.duration


def version() -> str:
    completed = subprocess.run([executable(), "--version"], capture_output=True, text=True, check=False)
    return completed.stdout.splitlines()[0].split(" Copyright")[0] if completed.stdout else "unknown"


def executable() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed: run scripts/ensure-wrk")
    return found


def write_script(*, body: Path, into: Path) -> Path:
    script = into / f"{body.stem}.lua"
    script.write_text(_SCRIPT % {"body": json.dumps(str(body)), "marker": _MARKER})
    return script


def saturate(*, url: str, script: Path, connections: int, seconds: int, cpu: int) -> WrkResult:
    command = [
        executable(),
        "--threads=1",
        f"--connections={connections}",
        f"--duration={seconds}s",
        "--timeout=5s",
        f"--script={script}",
        url,
    ]
    completed = subprocess.run(pinned(command, cpu=cpu), capture_output=True, text=True, check=False)
    for line in completed.stdout.splitlines():
        if line.startswith(_MARKER):
            summary = json.loads(line.removeprefix(_MARKER))
            return WrkResult(
                requests=summary["requests"],
                duration=summary["duration_us"] / 1e6,
                errors=summary["errors"] + summary["non_2xx"],
                mean_latency=summary["mean_us"] / 1e6,
                p99_latency=summary["p99_us"] / 1e6,
            )
    raise RuntimeError(f"wrk printed no summary (exit {completed.returncode}): {completed.stderr.strip()}")
