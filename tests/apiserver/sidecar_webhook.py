"""A second mutating webhook of the test's own, as a service mesh's injector is: it adds a container to every
pod it sees. Registered after ours, it makes the API server reinvoke ours (`reinvocationPolicy: IfNeeded`)."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.integration.server_process import Certificates

SIDECAR = "late-sidecar"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        review: dict[str, Any] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        request = review["request"]
        containers = request["object"]["spec"]["containers"]
        response: dict[str, Any] = {"uid": request["uid"], "allowed": True}
        if all(container["name"] != SIDECAR for container in containers):
            patch = [
                {"op": "add", "path": "/spec/containers/-", "value": {"name": SIDECAR, "image": "mesh:1"}}
            ]
            response |= {
                "patchType": "JSONPatch",
                "patch": base64.b64encode(json.dumps(patch).encode()).decode(),
            }
        body = json.dumps(
            {"apiVersion": review["apiVersion"], "kind": "AdmissionReview", "response": response}
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the API server's calls are not the test's output."""


@contextmanager
def sidecar_webhook(certificates: Certificates) -> Iterator[str]:
    """Serve over TLS on a free loopback port for the block; yields the URL to register."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(certificates.cert), str(certificates.key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}/mutate"
    finally:
        server.shutdown()
        server.server_close()
