"""An exclusive lock on an open file, between processes, on POSIX and on Windows alike.

The processes of one machine (a miner per hotkey) share the chain head file, and change it
holding a lock file next to it (clientkit.chain.HeadPin). `fcntl`, which locks it on
Linux and macOS, does not exist on Windows: imported at the top of the kit, it kept
`import clientkit` from working there at all. So the lock is taken with what the system
has: flock(2) where fcntl exists; on Windows msvcrt.locking of the file's first byte; and
where neither does, a lock between this process's threads only (processes sharing one head
file may then drop each other's pins: give each its own CLIENTKIT_HEAD_FILE).
"""

from __future__ import annotations

import errno
import importlib
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import IO, Any


def _module(name: str) -> Any:
    """The module, or None where the system has none of that name."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


fcntl = _module("fcntl")
msvcrt = _module("msvcrt")
REGION = 1
"""Bytes locked on Windows, from the file's start: one says who holds the file."""


@contextmanager
def _flocked(file: IO[Any]) -> Iterator[None]:
    fcntl.flock(file, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(file, fcntl.LOCK_UN)


@contextmanager
def _windows_locked(file: IO[Any]) -> Iterator[None]:
    """msvcrt.locking locks from the descriptor's position, so each call starts at byte 0.
    LK_LOCK gives up after 10 tries a second apart (EDEADLK): it is asked again, to wait as
    long as flock would."""
    fd = file.fileno()
    while True:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_LOCK, REGION)
            break
        except OSError as exc:
            if exc.errno != errno.EDEADLK:
                raise
    try:
        yield
    finally:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, REGION)


_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextmanager
def _threads_locked(file: IO[Any]) -> Iterator[None]:
    """A lock per file path, between this process's threads: no other process waits on it."""
    with _THREAD_LOCKS_GUARD:
        lock = _THREAD_LOCKS.setdefault(os.path.abspath(file.name), threading.Lock())
    with lock:
        yield


def exclusive(file: IO[Any]) -> AbstractContextManager[None]:
    """`with exclusive(file):` holds `file` (open for writing) locked until the block ends."""
    if fcntl is not None:
        return _flocked(file)
    if msvcrt is not None:
        return _windows_locked(file)
    return _threads_locked(file)
