"""A loopback HTTP server that reads each request body a chunk at a time and keeps only its
length and SHA-256: what an upload test needs to see of a body too large to hold.

busy_http reads a body whole into memory, which would dwarf what a test of the client's
memory measures; this one holds 64 KiB at a time. Answers come from a script, the last one
repeating, as in busy_http.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from servers.busy_http import Answer, Answers, send, serving

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Received:
    """One request: its headers (names lower-cased), the body's size and digest, and whether
    the body had all the bytes its Content-Length announced."""

    method: str
    path: str
    headers: dict[str, str]
    size: int
    sha256: str
    complete: bool


@dataclass
class Sink(Answers):
    received: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The requests received, once there are `count`: a client that stopped mid-body
        waits for no answer, so its request may still be being read."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)


def _digest(rfile: io.BufferedIOBase, length: int) -> tuple[int, str]:
    """Read up to `length` bytes (fewer if the client stops), a chunk at a time."""
    digest = hashlib.sha256()
    size = 0
    while size < length:
        chunk = rfile.read(min(CHUNK, length - size))
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def _handler(sink: Sink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            size, sha256 = _digest(self.rfile, length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            with sink.arrived:
                sink.received.append(
                    Received(self.command, self.path, headers, size, sha256, size == length)
                )
                answer = sink.next_answer()
                sink.arrived.notify_all()
            if size < length:
                self.close_connection = True
                return
            send(self, answer)

        do_POST = do_PUT = _answer

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output clean."""

    return Handler


@contextmanager
def sink_server(answers: list[Answer]) -> Iterator[Sink]:
    """Serve `answers` in order on loopback until the block ends."""
    sink = Sink(list(answers))
    with serving(_handler(sink), sink):
        yield sink
