"""The readiness wait of the test servers: slow or refused answers are retried, not fatal.

A server that stalls its first answers past the attempt timeout (as gunicorn does while its
workers import on a loaded machine) must still be waited for; one that died must not.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from servers.ready import wait_for_http
from servers.seaweed import free_ports


@contextmanager
def stalling_server(stalls: int) -> Iterator[tuple[str, list[str]]]:
    """Answers 200 to /healthz, but only after sleeping through the first `stalls` requests."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.path)
            if len(seen) <= stalls:
                time.sleep(1.0)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/healthz", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_read_timeouts_are_retried_until_the_server_answers() -> None:
    with stalling_server(stalls=2) as (url, seen):
        wait_for_http(url, lambda: None, deadline_seconds=60, attempt_timeout=0.1)
    assert len(seen) >= 3


def test_refused_connections_are_retried_until_the_deadline() -> None:
    (port,) = free_ports(1)
    with pytest.raises(RuntimeError, match=r"did not answer 200 within 1 s \(ConnectionError\)"):
        wait_for_http(f"http://127.0.0.1:{port}/healthz", lambda: None, deadline_seconds=1)


def test_a_dead_server_ends_the_wait_at_once() -> None:
    def dead() -> None:
        raise RuntimeError("gunicorn exited")

    (port,) = free_ports(1)
    with pytest.raises(RuntimeError, match="gunicorn exited"):
        wait_for_http(f"http://127.0.0.1:{port}/healthz", dead)
