"""A folder served over HTTP on loopback: stands in for the CDN in front of published files.

`cdn` is the same with a switch that makes it hang (every request, GET or POST, waits until
released), to show that nothing a signer worker does waits for a slow CDN, and that a client
kit call gives up on a server that never answers after its timeout. Both switches, `hang`
and `fail` (an error status instead of the file), may be kept to the paths under a prefix:
a CDN failing on one kind of file while it serves the others.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HANG_LIMIT = 300.0
"""A hanging request gives up after this long, so a forgotten release never blocks teardown."""


@dataclass
class Folder:
    """The served folder's base URL, and the switches that make it hang or fail."""

    url: str
    requests: int = 0
    paths: list[str] = field(default_factory=list)
    """The path of every request received, in order."""
    hanging: int = 0
    failing: dict[str, int] = field(default_factory=dict)
    """Path prefix (without the leading slash) -> the status answered instead of the file."""
    _held: str = ""
    _released: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._released.set()

    def hang(self, prefix: str = "") -> None:
        """From now on every request for a path under `prefix` (by default, every request)
        waits until `release()`."""
        self._held = prefix
        self._released.clear()

    def fail(self, prefix: str, status: int) -> None:
        """From now on every request for a path under `prefix` is answered `status`."""
        self.failing[prefix] = status

    def status_for(self, path: str) -> int | None:
        """The error status a request for `path` gets (`fail`), or None to serve it."""
        key = path.lstrip("/")
        return next((s for prefix, s in self.failing.items() if key.startswith(prefix)), None)

    def release(self) -> None:
        self._released.set()

    def wait_for_hanging_request(self, timeout: float) -> bool:
        """True once some request is held by `hang()` (polls; the machine may be slow)."""
        deadline = time.monotonic() + timeout
        while not self.hanging and time.monotonic() < deadline:
            time.sleep(0.05)
        return bool(self.hanging)

    def _enter(self, path: str) -> None:
        with self._lock:
            self.requests += 1
            self.paths.append(path)
            if not path.lstrip("/").startswith(self._held):
                return
            self.hanging += 1
        try:
            self._released.wait(HANG_LIMIT)
        finally:
            with self._lock:
                self.hanging -= 1


class _QuietHandler(SimpleHTTPRequestHandler):
    def __init__(self, *args, folder: Folder, **kwargs) -> None:
        self.folder = folder
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output clean."""

    def do_GET(self) -> None:
        self.folder._enter(self.path)
        status = self.folder.status_for(self.path)
        with suppress(BrokenPipeError, ConnectionResetError):  # a client that gave up waiting
            if status is None:
                super().do_GET()
            else:
                self.send_error(status)

    def do_POST(self) -> None:
        """Held as a GET is (an upload to a bucket that hangs), then refused as before."""
        self.folder._enter(self.path)
        with suppress(BrokenPipeError, ConnectionResetError):
            self.send_error(HTTPStatus.NOT_IMPLEMENTED, "Unsupported method ('POST')")


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve `folder` until the block ends; yields the base URL."""
    with cdn(folder) as served:
        yield served.url


@contextmanager
def cdn(folder: Path) -> Iterator[Folder]:
    """Serve `folder` until the block ends; yields its base URL and the hang switch."""
    served = Folder(url="")
    handler = functools.partial(_QuietHandler, directory=str(folder), folder=served)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.release()
        server.shutdown()
        server.server_close()
        thread.join()
