"""Sealing many epochs at once: the timelock itself is clientkit.timelock, shared with clients.

Each seal costs a pairing (~3 ms), so a long horizon is sealed on every core.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor

from clientkit.timelock import seal


class Sealer:
    """Seals on every core when there are many epochs.

    Work is submitted as soon as an epoch is chosen, so sealing overlaps selection.
    """

    def __init__(self, parallel: bool) -> None:
        self._pool: ProcessPoolExecutor | None = None
        if parallel:
            workers = max(1, min(os.cpu_count() or 1, 8))
            self._pool = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("fork")
            )

    def submit(self, plaintext: bytes, round_number: int) -> Future[bytes]:
        if self._pool is not None:
            return self._pool.submit(seal, plaintext, round_number)
        done: Future[bytes] = Future()
        done.set_result(seal(plaintext, round_number))
        return done

    def __enter__(self) -> Sealer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
