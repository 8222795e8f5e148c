"""A reverse proxy on loopback that behaves like App Platform's in front of the signer.

It connects to the upstream from its own loopback address (127.0.0.2 by default, so the
signer can tell it apart from clients on 127.0.0.1), appends the client's address to
`X-Forwarded-For` and sets `DO-Connecting-IP` to it, overwriting whatever the client sent.
Clients can connect from distinct loopback addresses (127.0.0.3, ...) to be distinct clients.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

PROXY_SOURCE = "127.0.0.2"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "do-connecting-ip"}


def _handler(upstream: str, source: str) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(upstream)
    host = target.hostname or "127.0.0.1"

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            client = self.client_address[0]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            forwarded = self.headers.get("X-Forwarded-For")
            headers["X-Forwarded-For"] = f"{forwarded}, {client}" if forwarded else client
            headers["DO-Connecting-IP"] = client
            connection = http.client.HTTPConnection(
                host, target.port, timeout=30, source_address=(source, 0)
            )
            try:
                connection.request(self.command, self.path, body=body or None, headers=headers)
                answer = connection.getresponse()
                payload = answer.read()
            finally:
                connection.close()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP | {"content-length", "date", "server"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _forward

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output clean."""

    return Forward


@contextmanager
def forwarding_proxy(upstream: str, source: str = PROXY_SOURCE) -> Iterator[str]:
    """Proxy to `upstream` until the block ends; yields the proxy's base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream, source))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
