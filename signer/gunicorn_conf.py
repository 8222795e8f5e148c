"""gunicorn settings of the signer (`gunicorn -c python:signer.gunicorn_conf`, see the Procfile).

gunicorn answers some malformed requests itself, before the app sees them: a request line
longer than `limit_request_line` (414), more than `limit_request_fields` header fields or
one longer than `limit_request_field_size` (431), an unparsable request line, method,
version or header (400). Its answer is an HTML page quoting the offending input; here it
is the signer's JSON error instead, `{"error": code, "detail": message}`, with a detail
that names the limit and never repeats the input. The limits are gunicorn's defaults,
written out so that docs/signer.md can state them: no signer request comes near them.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from gunicorn import util

limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

DETAILS = {
    400: ("invalid_request", "the request line or a header is malformed HTTP/1.1"),
    403: ("forbidden", "the request was refused by the server"),
    414: (
        "uri_too_long",
        f"the request line (method, path and query) is longer than {limit_request_line} bytes",
    ),
    417: ("expectation_failed", "the Expect header is not supported"),
    431: (
        "headers_too_large",
        f"more than {limit_request_fields} header fields, or one longer than "
        f"{limit_request_field_size} bytes",
    ),
    500: ("internal_error", "internal error; the operator has the log"),
    501: ("not_implemented", "the transfer coding is not supported"),
}


def json_error(status: int) -> bytes:
    """The whole HTTP response gunicorn sends for `status`, as the signer's JSON error."""
    code, detail = DETAILS.get(status, ("http_error", "the server refused the request"))
    body = json.dumps({"error": code, "detail": detail}).encode()
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def write_json_error(sock: object, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's `util.write_error`, answering JSON; `reason` and `mesg` (input) are dropped."""
    util.write_nonblock(sock, json_error(status_int))


util.write_error = write_json_error
