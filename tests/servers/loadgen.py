"""A small HTTP load generator: many requests over a fixed number of concurrent connections.

asyncio streams with one request per connection (gunicorn's sync workers close every
connection after answering), so 64 connections cost one client thread, not 64. Every
answer is kept with its status and headers, for tests that check each one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlparse


@dataclass(frozen=True)
class Answer:
    index: int
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Load:
    answers: list[Answer] = field(default_factory=list)
    failures: list[tuple[int, str]] = field(default_factory=list)
    peak_in_flight: int = 0


async def _exchange(
    host: str, port: int, request: bytes, timeout: float
) -> tuple[int, dict, bytes]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def post_all(
    base_url: str, path: str, bodies: Sequence[bytes], connections: int, timeout: float = 30.0
) -> Load:
    """POST each body (JSON) to `path`, at most `connections` at a time; every answer kept."""
    url = urlparse(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    requests = [
        (
            f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]
    load = Load()

    async def worker(queue: asyncio.Queue[int], in_flight: list[int]) -> None:
        while True:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            in_flight[0] += 1
            load.peak_in_flight = max(load.peak_in_flight, in_flight[0])
            try:
                status, headers, body = await _exchange(host, port, requests[index], timeout)
                load.answers.append(Answer(index, status, headers, body))
            except (OSError, TimeoutError, ValueError, IndexError) as exc:
                load.failures.append((index, f"{type(exc).__name__}: {exc}"))
            finally:
                in_flight[0] -= 1

    async def main() -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(len(requests)):
            queue.put_nowait(index)
        in_flight = [0]
        await asyncio.gather(*(worker(queue, in_flight) for _ in range(connections)))

    asyncio.run(main())
    load.answers.sort(key=lambda a: a.index)
    return load
