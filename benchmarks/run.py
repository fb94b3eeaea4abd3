"""`python -m benchmarks.run [--write docs/benchmarks.md] [--smoke | --quick]`: the whole benchmark, as markdown.

A full run takes about thirty minutes and wants a quiet machine with two CPUs; `--quick` takes a few
minutes (two runs, shorter phases, the cache and API-server sections at smoke size) for a first look whose
ratios are indicative; `--smoke` exercises every piece in seconds at tiny rates and its figures mean nothing.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks import apiserver_latency, cache_memory, comparator, machine, wrk
from benchmarks.handler_budget import SPIN_LADDER_US, decoding_time
from benchmarks.inputs import AWS_REGION, NAMES, NO_ROLE, TYPICAL, write_inputs
from benchmarks.interference import wait_for_quiet
from benchmarks.measure import (
    FULL,
    HOST,
    LOAD_CPU,
    QUICK,
    SERVER_CPU,
    SMOKE,
    Plan,
    Sample,
    Server,
    Setup,
    measure,
    measure_cpu,
    start,
)
from benchmarks.report import FULL_RUN, QUICK_RUN, SMOKE_RUN, Results, render
from benchmarks.targets import judge

REPO = Path(__file__).resolve().parent.parent
QUIET = 0.1
"""Before each run, wait (up to the plan's limit) until other work uses under 10% of either CPU."""
MUTATE_PATH = "/mutate?timeout=10s"
"""kube-apiserver appends its webhook timeout to the URL."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--write", type=Path, metavar="PATH", help="also write the report to this file")
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--smoke", action="store_true", help="seconds-long run at tiny rates, figures meaningless"
    )
    size.add_argument(
        "--quick", action="store_true", help="a few minutes: two short runs, ratios indicative only"
    )
    parser.add_argument("--runs", type=int, help="runs of each server (default: 5, quick: 2, smoke: 1)")
    args = parser.parse_args(argv)
    kind = SMOKE_RUN if args.smoke else QUICK_RUN if args.quick else FULL_RUN
    plan = {SMOKE_RUN: SMOKE, QUICK_RUN: QUICK, FULL_RUN: FULL}[kind]
    if args.runs:
        plan = replace(plan, runs=args.runs)
    try:
        text = benchmark(plan, kind=kind)
    except RuntimeError as error:
        print(f"benchmark: error: {error}", file=sys.stderr)
        return 1
    print(text)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text)
    return 0


def benchmark(plan: Plan, *, kind: str) -> str:
    started = time.perf_counter()
    # The cache and API-server sections have only two sizes; a quick run takes their small one.
    small_sections = kind != FULL_RUN
    go_binary = comparator.build()
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {LOAD_CPU})
    description = machine.describe(REPO, go_comparator=comparator.version(go_binary))
    with tempfile.TemporaryDirectory(prefix="pod-identity-webhook-bench-") as directory:
        work = Path(directory)
        inputs = write_inputs(work / "inputs")
        tls = certificates(work / "tls")
        logs = work / "logs"
        logs.mkdir()
        setup = Setup(
            bodies=inputs.bodies,
            scripts={name: wrk.write_script(body=path, into=work) for name, path in inputs.bodies.items()},
            ca_file=tls / "ca.crt",
            logs=logs,
        )
        ours = webhook_server(tls=tls, service_accounts=inputs.service_accounts)
        responses = record_answers(ours, setup)
        go = go_server(
            go_binary,
            tls=tls,
            service_accounts=comparator.write_service_accounts(
                inputs.service_accounts, into=work / "serviceaccounts.json"
            ),
        )
        _check_same_patches(go, setup, responses)
        baseline = _baseline_server(tls=tls, responses=responses, directory=work / "responses")
        floor = _parse_floor_server(baseline)
        scanner = _scanning_server(baseline)
        review_path = _review_path_server(baseline)
        review_path_floor = _parse_floor_server(review_path, name="review-path-floor")
        spinners = {spin: _spinning_server(baseline, microseconds=spin) for spin in SPIN_LADDER_US}
        samples: dict[str, list[Sample]] = {ours.name: [], baseline.name: [], go.name: []}
        floor_cpu: list[dict[str, float]] = []
        scan_cpu: list[float] = []
        review_path_cpu: list[float] = []
        review_path_floor_cpu: list[float] = []
        spin_cpu: list[dict[float, float]] = []
        for run in range(plan.runs):
            for server in (baseline, ours, go) if run % 2 == 0 else (go, ours, baseline):
                wait_for_quiet((SERVER_CPU, LOAD_CPU), threshold=QUIET, timeout=plan.quiet_wait_seconds)
                samples[server.name].append(measure(server, plan=plan, setup=setup, run=run))
            wait_for_quiet((SERVER_CPU, LOAD_CPU), threshold=QUIET, timeout=plan.quiet_wait_seconds)
            floor_cpu.append(measure_cpu(floor, plan=plan, setup=setup, run=run))
            scan_cpu.append(_typical_cpu(scanner, plan=plan, setup=setup, run=run))
            review_path_cpu.append(_typical_cpu(review_path, plan=plan, setup=setup, run=run))
            review_path_floor_cpu.append(_typical_cpu(review_path_floor, plan=plan, setup=setup, run=run))
            spin_cpu.append(
                {
                    spin: _typical_cpu(server, plan=plan, setup=setup, run=run)
                    for spin, server in spinners.items()
                }
            )
        cache = cache_memory.measure(smoke=small_sections)
        wait_for_quiet((SERVER_CPU, LOAD_CPU), threshold=QUIET, timeout=plan.quiet_wait_seconds)
        admission = apiserver_latency.measure(smoke=small_sections)
        results = Results(
            plan=plan,
            kind=kind,
            machine=description,
            input_sizes={name: inputs.size(name) for name in NAMES},
            patch_operations={name: _patch_operations(answer) for name, answer in responses.items()},
            baseline=samples[baseline.name],
            ours=samples[ours.name],
            go=samples[go.name],
            parse_floor_cpu=floor_cpu,
            scan_cpu=scan_cpu,
            review_path_cpu=review_path_cpu,
            review_path_floor_cpu=review_path_floor_cpu,
            spin_cpu=spin_cpu,
            decoding_seconds=decoding_time(inputs.bodies[TYPICAL].read_bytes()),
            verdicts=judge(
                ours=samples[ours.name], go=samples[go.name], parse_floor_cpu=floor_cpu, cache=cache
            ),
            cache=cache,
            admission=admission,
            seconds=time.perf_counter() - started,
        )
    return render(results)


def webhook_server(*, tls: Path, service_accounts: Path) -> Server:
    port, metrics_port = _free_port(), _free_port()
    command = [
        sys.executable, "-m", "webhook", "serve",
        "--tls-cert", str(tls / "tls.crt"), "--tls-key", str(tls / "tls.key"),
        "--service-account-file", str(service_accounts),
        "--port", str(port), "--metrics-port", str(metrics_port), "--bind-address", HOST,
        "--log-level", "warning", "--aws-default-region", AWS_REGION,
    ]  # fmt: skip
    return Server(name="webhook", command=command, port=port, paths=dict.fromkeys(NAMES, MUTATE_PATH))


def go_server(binary: Path, *, tls: Path, service_accounts: Path) -> Server:
    port = _free_port()
    command = comparator.command(
        binary, tls=tls, service_accounts=service_accounts, port=port, host=HOST, region=AWS_REGION
    )
    return Server(name=comparator.NAME, command=command, port=port, paths=dict.fromkeys(NAMES, MUTATE_PATH))


def _check_same_patches(go: Server, setup: Setup, ours: dict[str, bytes]) -> None:
    """The comparator is only a comparison while it does our work: the same patch for every input."""
    for name, answer in answer_reviews(go, setup).items():
        if (why := comparator.difference(ours[name], answer)) is not None:
            raise RuntimeError(f"the Go comparator's answer to the {name} review is not ours: {why}")


def _baseline_server(*, tls: Path, responses: dict[str, bytes], directory: Path) -> Server:
    directory.mkdir()
    for name, answer in responses.items():
        (directory / f"{name}.json").write_bytes(answer)
    port = _free_port()
    command = [
        sys.executable, "-m", "benchmarks.baseline",
        "--tls-cert", str(tls / "tls.crt"), "--tls-key", str(tls / "tls.key"),
        "--port", str(port), "--bind-address", HOST, "--responses", str(directory),
    ]  # fmt: skip
    return Server(name="baseline", command=command, port=port, paths={name: f"/{name}" for name in NAMES})


def _parse_floor_server(baseline: Server, *, name: str = "parse-floor") -> Server:
    """The baseline that also decodes each review: what reading a review costs any webhook on this stack."""
    return replace(baseline, name=name, command=[*baseline.command, "--decode"])


def _review_path_server(baseline: Server) -> Server:
    """The baseline's constant answers given on the path our server answers reviews on, inside the HTTP
    protocol, instead of through an ASGI cycle: that path's own ceiling."""
    return replace(baseline, name="review-path", command=[*baseline.command, "--direct"])


def _typical_cpu(server: Server, *, plan: Plan, setup: Setup, run: int) -> float:
    wait_for_quiet((SERVER_CPU, LOAD_CPU), threshold=QUIET, timeout=plan.quiet_wait_seconds)
    return measure_cpu(server, plan=plan, setup=setup, run=run, names=(TYPICAL,))[TYPICAL]


def _scanning_server(baseline: Server) -> Server:
    """The baseline that reads each review's JSON through and keeps nothing: below any real decoder."""
    return replace(baseline, name="json-scan", command=[*baseline.command, "--scan"])


def _spinning_server(baseline: Server, *, microseconds: float) -> Server:
    """The baseline that busy-waits before answering: what each microsecond of a handler costs the server."""
    return replace(
        baseline,
        name=f"spin-{microseconds:g}us",
        command=[*baseline.command, "--spin-us", f"{microseconds:g}"],
    )


def certificates(directory: Path) -> Path:
    command = [sys.executable, "-m", "webhook", "certs", "generate", "--out-dir", str(directory)]
    completed = subprocess.run(
        [*command, "--dns", "localhost", "--ip", HOST], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"certs generate failed: {completed.stderr.strip()}")
    return directory


def record_answers(server: Server, setup: Setup) -> dict[str, bytes]:
    """Our server's answer to each input: the baseline returns it, and it proves the inputs do what we say."""
    answers = answer_reviews(server, setup)
    for name, answer in answers.items():
        if (_patch_operations(answer) > 0) == (name == NO_ROLE):
            raise RuntimeError(
                f"the webhook's answer to the {name} review is not what it is meant to measure"
            )
    return answers


def answer_reviews(server: Server, setup: Setup) -> dict[str, bytes]:
    """`server`'s answer to each input, from a process of its own started for the purpose."""
    process = start(server, setup, cpu=LOAD_CPU, label="record")
    try:
        context = ssl.create_default_context(cafile=str(setup.ca_file))
        answers = {}
        for name in NAMES:
            connection = http.client.HTTPSConnection(HOST, server.port, context=context, timeout=10)
            connection.request(
                "POST", server.paths[name], body=setup.bodies[name].read_bytes(),
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            response = connection.getresponse()
            answers[name] = response.read()
            connection.close()
            if response.status != 200:
                raise RuntimeError(f"{server.name} answered the {name} review with HTTP {response.status}")
        return answers
    finally:
        process.stop()


def _patch_operations(answer: bytes) -> int:
    patch = json.loads(answer)["response"].get("patch")
    return len(json.loads(base64.b64decode(patch))) if patch else 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


if __name__ == "__main__":
    raise SystemExit(main())
