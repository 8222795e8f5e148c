"""Request body limits per endpoint: small everywhere, larger where clients send batches.

Every body is held to SIGNER_MAX_BODY_BYTES (16 KiB by default), which any single
credential request fits many times over. `/get-file-presigned-urls` takes up to 1,000 keys
and data-universe validators send 500 at once (about 79 KB of JSON), so that endpoint
accepts at least FILE_URLS_MAX_BODY: SIGNER_MAX_BODY_BYTES when it is set higher, lest
that endpoint alone take less than the setting. The limit is set before anything reads
the body, the rate limiter included.
"""

from __future__ import annotations

from flask import Flask, request

# 1,000 keys of up to 1,024 characters each, quoted and separated, plus the signed fields.
FILE_URLS_MAX_BODY = 1024 * 1024 + 16 * 1024
AT_LEAST = {"validator.get_file_presigned_urls": FILE_URLS_MAX_BODY}


def limit(app: Flask, endpoint: str | None) -> int:
    """The largest body a request to `endpoint` may send: SIGNER_MAX_BODY_BYTES (the app's
    MAX_CONTENT_LENGTH), or the endpoint's own floor in AT_LEAST when that is larger."""
    configured = int(app.config["MAX_CONTENT_LENGTH"])
    return max(configured, AT_LEAST.get(endpoint or "", 0))


def install(app: Flask) -> None:
    @app.before_request
    def _body_limit() -> None:
        request.max_content_length = limit(app, request.endpoint)
