"""JSON errors for every failure: `{"error": code, "detail": message}`, never an HTML page.

Details name what is wrong and where, but never repeat the submitted values: a request
body may carry a signature, and echoing input invites log and reflection tricks.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("signer")

HTTP_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limited",
}
TOO_LARGE = "the request body is larger than {limit} bytes"
"""The 413's detail, `limit` the request's body limit (signer/bodylimit.py)."""


class SignerFailure(Exception):
    """Every failure the signer expects: a refusal, a bad setting, an unusable snapshot.

    The CLI turns these into one clear line; the app turns refusals into JSON.
    """


class SignerError(SignerFailure):
    """A refusal with its HTTP status, a stable machine code and a human detail."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        headers: dict[str, str] | None = None,
        fields: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.fields = fields


def error_response(
    status: int,
    code: str,
    detail: str,
    fields: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, object] = {"error": code, "detail": detail}
    if fields:
        body["fields"] = fields
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    g.error_code = code
    return response


def validation_error_response(exc: ValidationError) -> Response:
    """flask-openapi3's validation_error_callback: field locations and reasons, no input.

    Bodies that are not one JSON object never get here (signer/body.py refuses them first).
    """
    fields = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        location = ".".join(str(part) for part in err["loc"]) or "body"
        fields.append({"field": location, "message": err["msg"]})
    detail = "; ".join(f"{item['field']}: {item['message']}" for item in fields)
    status = int(getattr(current_app, "validation_error_status", 422))
    return error_response(status, "invalid_request", detail, fields)


def register_error_handlers(app: Flask) -> None:
    """Route every exception to a JSON body with the right status."""

    @app.errorhandler(SignerError)
    def _signer_error(exc: SignerError) -> Response:
        return error_response(exc.status, exc.code, exc.detail, exc.fields, headers=exc.headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        headers = {}
        allowed = getattr(exc, "valid_methods", None)
        if status == 405 and allowed:
            headers["Allow"] = ", ".join(allowed)
        detail = {
            404: "no such endpoint; /docs lists them all",
            405: f"{request.method} is not allowed here",
            413: TOO_LARGE.format(limit=request.max_content_length),
        }.get(status, exc.description or "request refused")
        return error_response(status, HTTP_CODES.get(status, "http_error"), detail, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unexpected error on %s", request.path)
        return error_response(500, "internal_error", "internal error; the operator has the log")
