"""A client too slow to send its request cannot hold gunicorn's sync workers.

Each of the Procfile's workers serves one connection at a time, reading the request as it
arrives: three connections that sent part of a request and then nothing held both workers
until gunicorn killed them at its 30 s timeout, and `/healthz` waited that long. Now a
request's head and body must arrive within `request_seconds` of the connection being
accepted, or the client gets a JSON 408 and the connection is closed. A client that reads
its answer and keeps the connection open no longer holds the worker while gunicorn waits
for it to close (2 s a request). The same worker
hook leaves what the app loaded out of garbage collection (a full collection paused a
worker for about 100 ms).
"""

from __future__ import annotations

import errno
import gc
import json
import select
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
import requests
from gunicorn import util

from signer.gunicorn_conf import DeadlineSocket, post_worker_init, request_seconds

from servers.signer_gunicorn import demo_env, gunicorn_signer

pytestmark = pytest.mark.slow

# Well past the deadline, well short of gunicorn's 30 s worker timeout.
PATIENCE = request_seconds + 15


def stall(base: str, sent: bytes) -> socket.socket:
    """A connection that sends `sent` and then nothing more."""
    target = urlsplit(base)
    sock = socket.create_connection((target.hostname, target.port), timeout=PATIENCE)
    sock.sendall(sent)
    return sock


def answer(sock: socket.socket) -> tuple[int, dict]:
    chunks = []
    with sock:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower()
    return int(head.split()[1]), json.loads(body)


def test_stalled_requests_get_a_408_and_leave_the_workers_free(tmp_path):
    env = demo_env(tmp_path)
    with gunicorn_signer(env, tmp_path, workers=2) as base:
        stalled = [
            stall(base, b"GET /healthz HTTP/1.1\r\nHost: sig"),
            stall(
                base,
                b"POST /get-folder-access HTTP/1.1\r\nHost: signer\r\n"
                b'Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{"hotkey": ',
            ),
            stall(
                base,
                b"POST /get-folder-access HTTP/1.1\r\nHost: signer\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                b'40\r\n{"hotkey": ',
            ),
        ]
        # A head, a body of declared length and a chunked body, each cut short: both
        # workers are held by stalled clients, and a third waits to be accepted.
        health = requests.get(f"{base}/healthz", timeout=PATIENCE)
        assert health.status_code == 200
        for sock in stalled:
            status, body = answer(sock)
            assert (status, body["error"]) == (408, "request_timeout"), body
            assert "did not arrive" in body["detail"]
        spec = requests.get(f"{base}/openapi.json", timeout=PATIENCE).json()
        assert "408" in spec["paths"]["/get-folder-access"]["post"]["responses"]


def test_worker_hook_freezes_what_the_app_loaded_out_of_garbage_collection():
    class Worker:
        def handle(self, listener, client, addr):
            raise AssertionError("not called here")

    worker = Worker()
    gc.unfreeze()
    try:
        post_worker_init(worker)
        assert gc.get_freeze_count() > 0
        assert worker.handle.__name__ == "handle_with_deadline"
    finally:
        gc.unfreeze()


@contextmanager
def connected() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Both ends of a TCP connection on loopback: (the server's, the client's)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=PATIENCE)
        server, _ = listener.accept()
    with server, client:
        yield server, client


def returns(call: Callable[[], None]) -> bool:
    """Whether `call` returns within PATIENCE seconds (run in a thread, so that one waiting
    for ever fails the test rather than hanging the suite)."""
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(PATIENCE)
    return not thread.is_alive()


@pytest.mark.parametrize(
    "sent", [b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"], ids=["nothing-more", "pipelined"]
)
def test_a_client_that_keeps_its_connection_open_does_not_hold_the_worker(sent):
    # gunicorn's own close waited, after the answer, until the client closed (up to its
    # timeout, 2 s under the worker): a client that never closes held a sync worker that long,
    # whether or not it had sent more than its request (a pipelined one the worker never
    # reads): a drain stops once the input has stopped coming.
    with connected() as (server, client):
        if sent:
            client.sendall(sent)
            assert select.select([server], [], [], PATIENCE)[0], "the bytes arrived"
        server.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        assert returns(lambda: util.close_graceful(server, timeout=3600))
        assert client.recv(100).startswith(b"HTTP/1.1 200 OK")
        assert client.recv(100) == b"", "the server closed its side"


def test_unread_input_is_still_drained_before_closing():
    # Closing with bytes unread makes the kernel reset the connection, and a client can lose
    # the answer that was on its way: with input waiting, the connection is drained first.
    with connected() as (server, client):
        client.sendall(b"a body the app did not read")
        assert select.select([server], [], [], PATIENCE)[0], "the bytes arrived"
        server.sendall(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n")
        closing = threading.Thread(target=lambda: util.close_graceful(server, timeout=3600))
        closing.start()
        client.shutdown(socket.SHUT_WR)
        closing.join(PATIENCE)
        assert not closing.is_alive()
        assert client.recv(100).startswith(b"HTTP/1.1 413")
        assert client.recv(100) == b"", "closed, not reset"


@pytest.mark.parametrize("how", ["sendall", "sendfile"])
def test_an_answer_the_client_does_not_read_ends_as_a_broken_pipe(tmp_path, how):
    """A client that reads none of a large answer (a Swagger asset, sent with sendfile; a
    1,000-key /get-file-presigned-urls answer, with sendall) held the write until the socket
    timed out, and gunicorn logged the TimeoutError, which has no errno, as `Socket error
    processing request` with a traceback. The write now ends as the EPIPE gunicorn ignores,
    as for a client that went away."""
    big = tmp_path / "big"
    big.write_bytes(b"x" * 8_000_000)
    with connected() as (server, client):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        server.settimeout(PATIENCE)  # as gunicorn left it: no write waits for ever
        deadline = DeadlineSocket(server, 0.5)
        with pytest.raises(BrokenPipeError) as caught:
            if how == "sendall":
                deadline.sendall(big.read_bytes())
            else:
                with big.open("rb") as file:
                    deadline.sendfile(file)
        assert caught.value.errno == errno.EPIPE
        assert "read none of the answer for 0.5 s" in str(caught.value)


def test_a_client_that_reads_none_of_its_answer_leaves_no_traceback(tmp_path):
    env = demo_env(tmp_path)
    with gunicorn_signer(env, tmp_path, workers=1) as base:
        target = urlsplit(base)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        sock.connect((target.hostname, target.port))
        with sock:
            sock.sendall(b"GET /docs/assets/js/swagger-ui-bundle.js HTTP/1.1\r\nHost: x\r\n\r\n")
            # The one worker is let go by the write's deadline, then answers.
            health = requests.get(f"{base}/healthz", timeout=PATIENCE)
            assert health.status_code == 200
        log = (tmp_path / "gunicorn.log").read_text()
    assert "Traceback" not in log and "Socket error" not in log, log
