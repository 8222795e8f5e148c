"""What gunicorn answers itself (before the app sees a request) is the signer's JSON error too.

Sent over a raw socket to gunicorn started with the Procfile's command: a request line over
`limit_request_line`, too many or too large header fields, garbage HTTP. Each answer must be
`{"error": code, "detail": message}` as application/json, never quoting the input. So must
a body that gunicorn parses the head of but cannot read (signer/body.py).
"""

from __future__ import annotations

import json
import logging
import socket
from urllib.parse import urlsplit

import pytest

from signer.gunicorn_conf import (
    UnquotedRequests,
    limit_request_field_size,
    limit_request_fields,
    limit_request_line,
)

from servers.signer_gunicorn import demo_env, gunicorn_signer

pytestmark = pytest.mark.slow

MARK = "QQQ"  # input that must never be echoed back


def raw(base: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    target = urlsplit(base)
    with socket.create_connection((target.hostname, target.port), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def request(line: str, headers: list[str] | None = None) -> bytes:
    fields = ["Host: signer", *(headers or []), "Connection: close"]
    return (line + "\r\n" + "\r\n".join(fields) + "\r\n\r\n").encode("latin-1")


MALFORMED = {
    "a request line over the limit": (
        request(f"GET /{MARK}{'a' * limit_request_line} HTTP/1.1"),
        414,
        "uri_too_long",
    ),
    "too many header fields": (
        request(
            "GET /healthz HTTP/1.1", [f"X-{MARK}-{i}: 1" for i in range(limit_request_fields + 5)]
        ),
        431,
        "headers_too_large",
    ),
    "a header field over the limit": (
        request("GET /healthz HTTP/1.1", [f"X-Pad: {MARK}{'b' * limit_request_field_size}"]),
        431,
        "headers_too_large",
    ),
    "garbage instead of a request line": (request(f"{MARK} {MARK}"), 400, "invalid_request"),
    "an invalid method": (request(f"G{MARK}@ /healthz HTTP/1.1"), 400, "invalid_request"),
    "an invalid HTTP version": (request(f"GET /healthz HTTP/{MARK}"), 400, "invalid_request"),
    "an invalid header name": (
        request("GET /healthz HTTP/1.1", [f"X {MARK}: 1"]),
        400,
        "invalid_request",
    ),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gunicorn-errors")
    env = demo_env(folder)
    with gunicorn_signer(env, folder) as base:
        yield base


@pytest.mark.parametrize("name", list(MALFORMED))
def test_gunicorns_own_refusals_are_json(served, name):
    sent, status, code = MALFORMED[name]
    got, headers, body = raw(served, sent)
    assert got == status, body
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    answer = json.loads(body)
    assert answer["error"] == code and answer["detail"]
    assert MARK not in body.decode()


def test_gunicorns_log_of_a_malformed_request_does_not_quote_it(tmp_path):
    """gunicorn logged each malformed request with its text, `Invalid request from
    ip=...: Invalid HTTP request line: 'GET /s3/list?...&signature=...'`: a list URL's
    signature, or anything else a client put in a request line or header, in the log the
    signer keeps free of them. The log says what was malformed, not what was sent."""
    env = demo_env(tmp_path)
    with gunicorn_signer(env, tmp_path) as base:
        for name, (sent, status, _) in MALFORMED.items():
            assert raw(base, sent)[0] == status, name
    log = (tmp_path / "gunicorn.log").read_text()
    assert "Invalid request from ip=127.0.0.1: Invalid HTTP request line" in log
    assert MARK not in log


@pytest.mark.parametrize(
    "error",
    [
        'Invalid HTTP request line: "GET /s3/list?x=a\'b&signature=QQQ"',
        "Invalid chunk size: b'QQQ'",
    ],
)
def test_a_malformed_request_quoted_either_way_is_left_out_of_the_log(error):
    """Python quotes a text holding a ' with double quotes, and bytes as b'...'."""
    record = logging.LogRecord(
        "gunicorn.error",
        logging.WARNING,
        "",
        0,
        f"Invalid request from ip=10.0.0.1: {error}",
        (),
        None,
    )
    assert UnquotedRequests().filter(record)
    said = error.split(":")[0]
    assert record.getMessage() == (
        f"Invalid request from ip=10.0.0.1: {said} (the request's text is not logged)"
    )


def test_a_long_url_under_the_limit_reaches_the_app_and_is_json(served):
    path = "/" + "a" * (limit_request_line - 100)
    got, headers, body = raw(served, request(f"GET {path} HTTP/1.1"))
    assert got == 404
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "not_found"


def raw_body(base: str, head: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """`head`'s request with `body`, then the client stops sending (a half-close): a body
    shorter than announced can then only end early, never wait for more."""
    target = urlsplit(base)
    with socket.create_connection((target.hostname, target.port), timeout=30) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n" + body)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    status, _, answer = b"".join(chunks).partition(b"\r\n\r\n")
    lines = status.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, answer


POST = "POST {path} HTTP/1.1\r\nHost: signer\r\nContent-Type: application/json\r\n{framing}"
CHUNKED = "Transfer-Encoding: chunked"

BAD_BODIES = {
    "a chunk size that is not hex": (CHUNKED, f"{MARK}\r\n{{}}\r\n0\r\n\r\n".encode()),
    "a chunk without its CRLF": (CHUNKED, f"2\r\n{{}}{MARK}0\r\n\r\n".encode()),
    "a chunked body cut short": (CHUNKED, b'40\r\n{"hotkey": "'),
    "a body shorter than its Content-Length": ("Content-Length: 400", b'{"QQQ": 1}'),
}


BODY_PATHS = [
    "/get-folder-access",
    "/get-file-presigned-urls",
    "/api/v1/zipcode-assignments/status",
]


@pytest.mark.parametrize("path", BODY_PATHS)
@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_a_body_the_server_cannot_read_is_a_json_400(served, name, path):
    """gunicorn reads the head, then the app's read of the body fails: once a 500 with a
    traceback for a malformed chunk; a short body must not be read as the whole body."""
    framing, body = BAD_BODIES[name]
    got, headers, answer = raw_body(served, POST.format(path=path, framing=framing), body)
    assert got == 400, answer
    assert headers["content-type"] == "application/json"
    refused = json.loads(answer)
    assert refused["error"] == "invalid_request"
    assert "body" in refused["detail"]
    assert MARK not in answer.decode()


@pytest.mark.parametrize("codings", ["gzip, chunked", "deflate, chunked", "compress, chunked"])
@pytest.mark.parametrize("path", BODY_PATHS)
def test_a_transfer_coding_other_than_chunked_is_a_501(served, codings, path):
    """gunicorn refuses an unknown transfer coding (501), but passes gzip, deflate and
    compress before chunked, undecoded: a JSON body so labelled was read as plain JSON and
    answered, against docs/signer.md's 501 for any coding other than chunked."""
    body = json.dumps({"hotkey": MARK}).encode()
    framing = f"Transfer-Encoding: {codings}"
    chunked = f"{len(body):X}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    got, headers, answer = raw_body(served, POST.format(path=path, framing=framing), chunked)
    assert got == 501, answer
    assert headers["content-type"] == "application/json"
    assert json.loads(answer) == {
        "error": "not_implemented",
        "detail": "the transfer coding is not supported: send the body as it is, with its "
        "Content-Length, or chunked alone",
    }


def test_a_chunked_body_over_the_limit_is_413_not_cut_to_fit(served):
    """A JSON object padded past SIGNER_MAX_BODY_BYTES with spaces: cut at the limit, as
    werkzeug's stream cuts it, it would parse as a whole object."""
    padded = b'{"hotkey": "x"}' + b" " * (16 * 1024 + 10)
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(part), part)
        for part in (padded[i : i + 4096] for i in range(0, len(padded), 4096))
    )
    head = POST.format(path="/get-folder-access", framing=CHUNKED)
    got, headers, answer = raw_body(served, head, chunks + b"0\r\n\r\n")
    assert got == 413, answer
    assert headers["content-type"] == "application/json"
    assert json.loads(answer)["error"] == "payload_too_large"
