"""Runs *inside* the webhook container (`docker exec -i ... python3 -c "$(this file)"`), whose only network is
its own loopback: waits for /readyz, sends the AdmissionReview read from stdin over TLS
verified against the CA, reads /metrics, and prints the results as one JSON object.

Standard library only: the image carries no HTTP client of its own.
"""

from __future__ import annotations

import json
import ssl
import sys
import time
import urllib.error
import urllib.request

CA, PORT, METRICS_PORT, READY_WITHIN = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
review = sys.stdin.read()
tls = ssl.create_default_context(cafile=CA)
base = f"https://localhost:{PORT}"


def call(url: str, body: bytes | None = None, context: ssl.SSLContext | None = tls) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


deadline = time.monotonic() + READY_WITHIN
ready: tuple[int, str] = (0, "")
while time.monotonic() < deadline:
    try:
        ready = call(f"{base}/readyz")
    except OSError as error:
        ready = (0, str(error))
    if ready[0] == 200:
        break
    time.sleep(0.2)

result: dict[str, tuple[int, str]] = {"ready": ready}
if ready[0] == 200:
    result["mutate"] = call(f"{base}/mutate", review.encode())
    result["livez"] = call(f"{base}/livez")
    result["metrics"] = call(f"http://127.0.0.1:{METRICS_PORT}/metrics", context=None)
print(json.dumps(result))
