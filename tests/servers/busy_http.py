"""A loopback HTTP server that answers from a script: how a busy signer or CDN behaves.

Each request takes the next scripted answer (status, headers, body) and is recorded with
its method, path and body, so a test can see what a client sent on each try.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes


@dataclass
class Answers:
    """The answers still to give, the last one repeating."""

    answers: list[Answer]
    url: str = ""

    def next_answer(self) -> Answer:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@dataclass
class Script(Answers):
    """Answers, and the requests received."""

    requests: list[Request] = field(default_factory=list)


def send(handler: BaseHTTPRequestHandler, answer: Answer) -> None:
    """Write `answer` as the handler's response, with its Content-Length."""
    handler.send_response(answer.status)
    for name, value in answer.headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(answer.body)))
    handler.end_headers()
    handler.wfile.write(answer.body)


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], answers: Answers) -> Iterator[None]:
    """`handler` on a loopback port, its base URL set on `answers`, until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    answers.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _handler(script: Script, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with lock:
                script.requests.append(Request(self.command, self.path, body))
                answer = script.next_answer()
            send(self, answer)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output clean."""

    return Handler


@contextmanager
def scripted_server(answers: list[Answer]) -> Iterator[Script]:
    """Serve `answers` in order on loopback until the block ends."""
    script = Script(list(answers))
    with serving(_handler(script, threading.Lock()), script):
        yield script
