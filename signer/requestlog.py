"""One JSON line per request: who, what, outcome, latency and which worker process answered;
never a signature or secret."""

from __future__ import annotations

import json
import logging
import os
import time

from flask import Flask, Response, g, request

log = logging.getLogger("signer.access")


def install(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _log(response: Response) -> Response:
        started = g.get("started", time.perf_counter())
        entry = {
            "event": "request",
            "method": request.method,
            "endpoint": request.url_rule.rule if request.url_rule else None,
            "status": response.status_code,
            "outcome": g.get("error_code", "ok"),
            "hotkey": g.get("hotkey"),
            "verified": g.get("verified_hotkey") is not None,
            "latencyMs": round((time.perf_counter() - started) * 1000, 2),
            "pid": os.getpid(),
        }
        log.info(json.dumps(entry))
        return response


def configure_logging() -> None:
    """Print signer logs on stderr unless the host program already configured logging."""
    logger = logging.getLogger("signer")
    logger.setLevel(logging.INFO)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
