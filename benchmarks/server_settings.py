"""Serve an ASGI app exactly as `pod-identity-webhook serve` serves its own: one uvicorn worker, same TLS.

Keep this in step with webhook/server.py: the baseline is only a fair ceiling while nothing but the
application differs. The TLS context is the server's own class (same ciphers, ALPN, options, SNI callback).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import uvicorn

from webhook.tls import ServingTLS


def serve(app: Any, *, host: str, port: int, tls_cert: Path, tls_key: Path) -> None:
    serving = ServingTLS(min_version="1.2")
    serving.load_pem(cert=tls_cert.read_bytes(), key=tls_key.read_bytes())
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_context_factory=lambda _config, _default: serving.context,
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
    )
    asyncio.run(uvicorn.Server(config).serve())
