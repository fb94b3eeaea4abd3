"""Serve an ASGI app exactly as `pod-identity-webhook serve` serves its own: one uvicorn worker, same TLS.

The event loop and uvicorn settings are the server's own (webhook/server/assembly.py): the baseline is only a fair
ceiling while nothing but the application differs. The TLS context is the server's own class (same ciphers, ALPN, options, SNI callback).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import uvicorn

from webhook.server.assembly import run_event_loop, uvicorn_config
from webhook.tls.serving import ServingTLS


def serve(app: Any, *, host: str, port: int, tls_cert: Path, tls_key: Path) -> None:
    serving = ServingTLS(min_version="1.2")
    serving.load_pem(cert=tls_cert.read_bytes(), key=tls_key.read_bytes())
    run_event_loop(
        uvicorn.Server(uvicorn_config(app, host=host, port=port, ssl_context=serving.context)).serve()
    )
