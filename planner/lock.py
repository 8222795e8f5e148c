"""One planner run at a time per machine: cron may start a tick while the last still runs."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from planner.errors import PlannerError


class LockBusy(PlannerError, RuntimeError):
    """Another run holds the lock and did not release it in time."""


class LockUnusable(PlannerError, OSError):
    """The lock file cannot be made: the state folder is not one this user can write."""


@contextmanager
def exclusive(path: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise LockUnusable(
            f"cannot make the lock file {path}: {exc.strerror or exc}; PLANNER_STATE must be "
            "a folder this user can write (cron may run as another user than the checkout's)"
        ) from None
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockBusy(f"another planner run holds {path}") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
