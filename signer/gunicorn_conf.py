"""gunicorn settings of the signer (`gunicorn -c python:signer.gunicorn_conf`, see the Procfile).

gunicorn answers some malformed requests itself, before the app sees them: a request line
longer than `limit_request_line` (414), more than `limit_request_fields` header fields or
one longer than `limit_request_field_size` (431), an unparsable request line, method,
version or header (400). Its answer is an HTML page quoting the offending input; here it
is the signer's JSON error instead, `{"error": code, "detail": message}`, with a detail
that names the limit and never repeats the input. The limits are gunicorn's defaults,
written out so that docs/signer.md can state them: no signer request comes near them.

A sync worker serves one connection at a time and reads the request as it arrives, so a
client that sends part of a request and then nothing held a worker until gunicorn killed it
(`--timeout`, 30 s): two such connections stopped the signer. Each connection now has
`request_seconds` from being accepted for its request's head and body to arrive
(DeadlineSocket); past that, a head still incomplete is answered 408 here, and a body the
app is reading fails its read, which the app answers 408 (signer/body.py).

After answering, gunicorn (26 and later) half-closes the connection and reads until the
client closes its side, for up to 2 s (`util.close_graceful`), so that request bytes left
unread cannot make the kernel reset the connection and lose the answer on its way. A sync
worker waits through that drain: a client that reads its answer and keeps the connection
open held the worker 2 s, and one such request a second on each of two connections stopped
the signer. Now a connection with nothing unread is closed at once, which loses nothing;
one with input waiting (a body the app refused without reading it, a pipelined request) is
drained while its input keeps coming, and closed once `drain_quiet_seconds` pass without
any: a client that sent more and kept the connection open held the worker 2 s too.

The settings are checked once in the master, before it binds or starts a worker: a missing
or malformed one stops gunicorn with the signer's one-line message (exit 1), where each
worker used to print a traceback of the app factory and the master then gave up with
"Worker failed to boot".

A worker holds about 115,000 objects once the app is loaded (bittensor's keys, botocore,
pydantic models), which live as long as it does. Python's full garbage collection walked
them all, about 100 ms during which the worker answered nothing (seen under the benchmark,
bench/RESULTS.md); they are collected once, then frozen out of every later collection.
"""

from __future__ import annotations

import errno
import gc
import json
import logging
import re
import select
import socket
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from gunicorn import util
from gunicorn.http.errors import NoMoreData

control_socket_disable = True
"""No control socket for `gunicornc` (gunicorn 25.1 and later): its one default path per
user (~/.gunicorn/gunicorn.ctl) is taken over by each gunicorn that starts, and it offers a
way to change the workers or stop the signer that the signer never uses."""

limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
request_seconds = 10
"""How long a connection has, from being accepted, to send its request's head and body."""

DETAILS = {
    400: ("invalid_request", "the request line or a header is malformed HTTP/1.1"),
    403: ("forbidden", "the request was refused by the server"),
    414: (
        "uri_too_long",
        f"the request line (method, path and query) is longer than {limit_request_line} bytes",
    ),
    408: (
        "request_timeout",
        f"the request did not arrive within {request_seconds} s of the connection",
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


class UnquotedRequests(logging.Filter):
    """gunicorn's warning for a malformed request quotes it (`Invalid request from ip=...:
    Invalid HTTP request line: 'GET /s3/list?...&signature=...'`): the warning is kept up
    to the quoted input, which is left out, as it is of the answer."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        quoted = re.search(r"['\"]", message)
        if message.startswith("Invalid request from ip=") and quoted:
            # up to the input, quoted as Python quotes a str or bytes (b'...')
            said = message[: quoted.start()].removesuffix("b").rstrip(": ")
            record.msg, record.args = f"{said} (the request's text is not logged)", ()
        return True


logging.getLogger("gunicorn.error").addFilter(UnquotedRequests())

drain_quiet_seconds = 0.25
"""How long a drain after the answer waits for more of the client's input before closing."""


def close_after_answer(sock: Any, timeout: float = 2.0, max_drain: int = 65536) -> None:
    """gunicorn's `util.close_graceful` (same arguments), holding the worker only while the
    client's input keeps coming: closed at once when nothing is waiting unread, else
    half-closed and drained until the client closes, `max_drain` bytes, `timeout` seconds,
    or `drain_quiet_seconds` without input."""
    if not _readable(sock, 0):
        util.close(sock)
        return
    deadline = time.monotonic() + timeout
    drained = 0
    try:
        sock.shutdown(socket.SHUT_WR)
        while drained < max_drain and _readable(
            sock, min(drain_quiet_seconds, deadline - time.monotonic())
        ):
            data = sock.recv(4096)
            if not data:
                break
            drained += len(data)
    except OSError:
        pass
    finally:
        util.close(sock)


def _readable(sock: Any, seconds: float) -> bool:
    """Whether input (or the client's close) is waiting, within `seconds`; a socket that
    cannot be asked counts as not."""
    try:
        return bool(select.select([sock], [], [], max(0.0, seconds))[0])
    except (OSError, ValueError):
        return False


util.close_graceful = close_after_answer


class DeadlineSocket:
    """A client connection whose reads end at a deadline (`request_seconds` after accept).

    A read waits at most until the deadline, or less if gunicorn asks for less (its drain
    of the connection after answering, which keeps its own timeout). Past the deadline, a
    read before the end of the request's head answers 408, unless an answer was sent
    already, and ends the connection quietly (gunicorn ignores NoMoreData, as a client
    gone); a read of the body raises TimeoutError into the app's read. Writes get
    `request_seconds` of their own (_writing). Everything else is the socket's.
    """

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self._sock = sock
        self._deadline = time.monotonic() + seconds
        self._seconds = seconds
        self._head_ended = False
        self._answered = False
        self._tail = b""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def recv(self, size: int, *flags: int) -> bytes:
        left = self._deadline - time.monotonic()
        asked = self._sock.gettimeout()
        if asked is not None and asked < left:
            return self._sock.recv(size, *flags)
        try:
            if left <= 0:
                raise TimeoutError("the request's deadline has passed")
            self._sock.settimeout(left)
            data = self._sock.recv(size, *flags)
        except TimeoutError:
            if self._head_ended or self._answered:
                raise
            self._answered = True
            util.write_nonblock(self._sock, json_error(408))
            raise NoMoreData(b"") from None
        if not self._head_ended:
            seen = self._tail + data
            self._head_ended = b"\r\n\r\n" in seen
            self._tail = seen[-3:]
        return data

    def send(self, data: bytes, *flags: int) -> int:
        self._writing()
        try:
            return self._sock.send(data, *flags)
        except TimeoutError:
            raise self._unread() from None

    def sendall(self, data: bytes, *flags: int) -> None:
        self._writing()
        try:
            self._sock.sendall(data, *flags)
        except TimeoutError:
            raise self._unread() from None

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        self._writing()
        try:
            return self._sock.sendfile(file, offset, count)
        except TimeoutError:
            raise self._unread() from None

    def _writing(self) -> None:
        """Before a write of the answer: it is given `request_seconds`."""
        self._answered = True
        self._sock.settimeout(self._seconds)

    def _unread(self) -> BrokenPipeError:
        """What a write the client read none of for `request_seconds` (a large Swagger
        asset or presigned-URL answer left unread) ends in: a broken pipe, which gunicorn
        lets go quietly, as a client gone. The socket's TimeoutError has no errno, and was
        logged as `Socket error processing request` with a traceback. (Not a context
        manager: these writes are on every request's path.)"""
        return BrokenPipeError(
            errno.EPIPE, f"the client read none of the answer for {self._seconds:g} s"
        )


def on_starting(server: Any) -> None:
    """gunicorn's hook, in the master before anything starts: the settings the app factory
    reads are checked here, and a bad one is gunicorn's `Error: <message>` (exit 1)."""
    from signer.config import ConfigError, load_settings

    try:
        load_settings()
    except ConfigError as exc:
        raise RuntimeError(str(exc)) from None


def post_worker_init(worker: Any) -> None:
    """gunicorn's hook, once per worker after loading the app: every connection it accepts
    gets a deadline, and what the app has loaded is left out of garbage collection."""
    gc.collect()
    gc.freeze()
    handle: Callable[[Any, socket.socket, Any], None] = worker.handle

    def handle_with_deadline(listener: Any, client: socket.socket, addr: Any) -> None:
        handle(listener, DeadlineSocket(client, request_seconds), addr)  # type: ignore[arg-type]

    worker.handle = handle_with_deadline
