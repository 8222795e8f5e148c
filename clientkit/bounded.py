"""Reading a server's answer, at most so many bytes.

The kit reads from servers it cannot vouch for: the CDN, drand relays, the signer, S3. A
body is streamed and given up once past its limit, counted decompressed, so that no answer
(a gzip body that inflates without end, a server that never stops sending) fills a miner's
memory. Each caller says what its answers can legitimately weigh and words its own error.
A connection cut while the body comes is a failed connection, retried like one that fails
before the answer (`read_retryable`, read inside the try).
"""

from __future__ import annotations

import requests

CHUNK = 64 * 1024


def read_bounded(response: requests.Response, limit: int) -> bytes | None:
    """The body of a `stream=True` response, decompressed, or None once past `limit` bytes
    (the rest is never read: closing the response drops the connection)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(min(CHUNK, limit + 1)):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def read_retryable(response: requests.Response, limit: int) -> bytes | None:
    """read_bounded, a connection cut mid-body (requests' ChunkedEncodingError) raised as the
    requests.ConnectionError it is, which clientkit.retry.Backoff tries again."""
    try:
        return read_bounded(response, limit)
    except requests.exceptions.ChunkedEncodingError as exc:
        raise requests.ConnectionError(*exc.args) from exc
