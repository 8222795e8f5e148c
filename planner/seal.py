"""Sealing many epochs at once: the timelock itself is clientkit.timelock, shared with clients.

Each seal costs a pairing (~3 ms), so a long horizon is sealed on every core.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from concurrent.futures import Future, ProcessPoolExecutor

from clientkit.timelock import seal

PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Sealer:
    """Seals on every core when there are many epochs.

    Work is submitted as soon as an epoch is chosen and padded (planner.jobs), so sealing
    overlaps selection.
    """

    def __init__(self, parallel: bool) -> None:
        self._pool: ProcessPoolExecutor | None = None
        if parallel:
            workers = max(1, min(os.cpu_count() or 1, 8))
            self._pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_worker_setup,
                initargs=(os.getpid(),),
            )

    def submit(self, plaintext: bytes, round_number: int) -> Future[bytes]:
        if self._pool is not None:
            # The first submit forks the workers. Ctrl-C during a fork would be swallowed by
            # an at-fork hook or kill a half-made worker, so it waits until the fork is done.
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                return self._pool.submit(seal, plaintext, round_number)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        done: Future[bytes] = Future()
        done.set_result(seal(plaintext, round_number))
        return done

    def __enter__(self) -> Sealer:
        return self

    def __exit__(self, *exc: object) -> None:
        """On any exception too (Ctrl-C included): queued work is cancelled, workers end."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


def _worker_setup(parent: int) -> None:
    """A worker leaves Ctrl-C (sent to the whole process group) to its parent, which shuts
    the pool down, and dies with the parent when that is stopped outright (SIGTERM from
    cron or a shell, SIGKILL), instead of waiting forever on a queue nobody feeds."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
