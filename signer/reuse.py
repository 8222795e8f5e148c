"""A miner's credentials reused within its epoch: presigning is the costliest step of a request.

Profiled under load (bench/signer.py with py-spy), botocore's presigning was 30% of a
`/get-folder-access` request. A miner's presigned POST covers its folder of the current
epoch and stays valid until the epoch ends (plus grace), and its list URL for
SIGNER_LIST_URL_TTL; so a hotkey that asks again in the same epoch gets the same ones back
while the list URL has at least half its lifetime left. The signature, the metagraph and
the rate limit are still checked on every request: only presigning, and writing the JSON
answer (all of it but `expiry_seconds`), is skipped. Each process
(gunicorn worker) keeps its own entries, at most one per hotkey, dropped when the epoch ends.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Issued:
    """What presigning produced for one hotkey, and when."""

    post: dict[str, Any]  # url, fields, folder, expiry, expiry_seconds, max_upload_bytes
    list_url: str
    list_expiry: str
    issued_at: float
    list_expires_at: float
    body_head: bytes = b""  # the JSON answer up to the value of its last key, expiry_seconds

    def expiry_seconds(self, now: float) -> int:
        """What is left at `now` of the POST's lifetime."""
        return max(1, self.post["expiry_seconds"] - int(now - self.issued_at))

    def answer(self, now: float) -> dict[str, Any]:
        """The response fields, with expiry_seconds counted from `now`."""
        return {
            **self.post,
            "list_url": self.list_url,
            "list_expiry": self.list_expiry,
            "expiry_seconds": self.expiry_seconds(now),
        }

    def body(self, now: float) -> bytes:
        """The JSON answer at `now`: `body_head`, written once when presigned, then the one
        value that changes, so a reused credential costs no validation or serializing."""
        return self.body_head + b"%d}" % self.expiry_seconds(now)


class Reuse:
    """Issued credentials of the current epoch by hotkey; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._epoch: str | None = None
        self._issued: dict[str, Issued] = {}

    def get(self, epoch_id: str, hotkey: str, now: float, list_ttl: int) -> Issued | None:
        with self._lock:
            issued = self._issued.get(hotkey) if epoch_id == self._epoch else None
        if issued is None or issued.list_expires_at - now < list_ttl / 2:
            return None
        return issued

    def put(self, epoch_id: str, hotkey: str, issued: Issued) -> None:
        with self._lock:
            if epoch_id != self._epoch:
                self._epoch, self._issued = epoch_id, {}
            self._issued[hotkey] = issued
