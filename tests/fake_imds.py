"""An EC2 instance metadata service on loopback, speaking IMDSv2 as the real one does: a PUT for a session
token, then reads that carry it. Tests that turn `--compose-role-arn` on point
`AWS_EC2_METADATA_SERVICE_ENDPOINT` here; nothing in the tests may reach the real address."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

TOKEN = "AQAEAFAKE-session-token=="
DOCUMENT_PATH = "/latest/dynamic/instance-identity/document"
LOOPBACK_HOSTS = frozenset(("127.0.0.1", "::1", "localhost"))


def is_loopback_url(url: str) -> bool:
    return urlsplit(url).hostname in LOOPBACK_HOSTS


@dataclass
class FakeInstanceMetadata:
    document: Any = field(
        default_factory=lambda: {"accountId": "111122223333", "region": "eu-west-1", "instanceId": "i-0fake"}
    )
    token_status: int = 200
    """What the token PUT answers: 200, or an error as IMDSv1-only or hop-limited set-ups give."""
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    url: str = ""


@contextmanager
def fake_instance_metadata(metadata: FakeInstanceMetadata | None = None) -> Iterator[FakeInstanceMetadata]:
    fake = metadata or FakeInstanceMetadata()

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            fake.requests.append(("PUT", self.path, _lowered(self.headers.items())))
            if self.path != "/latest/api/token" or fake.token_status != 200:
                self._answer(fake.token_status if self.path == "/latest/api/token" else 404, b"")
                return
            self._answer(200, TOKEN.encode())

        def do_GET(self) -> None:
            fake.requests.append(("GET", self.path, _lowered(self.headers.items())))
            if self.headers.get("x-aws-ec2-metadata-token") != TOKEN:
                self._answer(401, b"")
            elif self.path != DOCUMENT_PATH:
                self._answer(404, b"")
            else:
                body = (
                    fake.document if isinstance(fake.document, bytes) else json.dumps(fake.document).encode()
                )
                self._answer(200, body)

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def _lowered(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header names are case-insensitive: the fake records them in lower case."""
    return {name.lower(): value for name, value in headers}
