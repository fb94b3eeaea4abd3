"""The load benchmark of `pod-identity-webhook serve` against a bare ASGI baseline (issue 5).

`python -m benchmarks.run` measures both on the same uvicorn and TLS settings and reports every figure as
a ratio against the baseline, so the numbers hold on a noisy machine. Not part of the package we ship.
"""
