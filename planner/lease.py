"""One tick at a time across machines: a lease object next to the private state.

The file lock (planner.lock) serialises runs on one machine; App Platform starts each job in
a fresh container, and an operator may tick by hand from a laptop, so runs on different
machines need something both can see: the bucket. A run writes a lease (its owner and an
expiry) under `_planner/`, waits `settle` seconds, and reads it back: if another run wrote
its own lease in between, the later write wins and the earlier run backs off. Two runs can
only both proceed if one's read and write straddle the other's whole wait, which a settle
of a few seconds rules out on a bucket with read-after-write consistency (Spaces, S3,
SeaweedFS). A lease held past its expiry (a run killed before releasing it), or expiring
further ahead than any run's could, is taken over.

A run killed on this machine (cron on a droplet or a laptop, the OOM killer) need not be
waited for: a lease names the process that wrote it, as the kernel's boot, the PID
namespace, the PID and its start time (Linux), and a run that sees all of them match its
own machine, and no process with that PID and start time, takes the lease over at once. A
lease from another machine or container cannot be checked and is waited for as before.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from planner.lock import LockBusy
from planner.store import Store

LEASE_KEY = "tick-lease.json"
MAX_SECONDS = 86_400
"""The longest lease a run takes (PLANNER_LEASE_SECONDS): a killed run's blocks others this
long. One expiring further ahead was written by no run under this rule: it counts as none."""


@dataclass(frozen=True)
class Lease:
    owner: str
    expires: float
    process: str | None = None
    """The writing process as `process_of` gives it; None where it cannot be told."""

    def to_bytes(self) -> bytes:
        fields = {"owner": self.owner, "expires": self.expires, "process": self.process}
        return json.dumps(fields).encode()


def process_of(pid: int) -> str | None:
    """A running process as another process of this machine can recognise it: the boot,
    the PID namespace, the PID and its start time (a reused PID starts later). None where
    /proc cannot tell them (not Linux), or when no process has this PID."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
        started = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None
    return f"{boot}/{namespace}/{pid}/{started}"


def _ended(process: str | None) -> bool:
    """Whether the process that wrote a lease has certainly ended: it ran on this machine,
    in this PID namespace, and no process with its PID and start time is running now."""
    parts = (process or "").split("/")
    here = process_of(os.getpid())
    if len(parts) != 4 or here is None or here.split("/")[:2] != parts[:2]:
        return False
    try:
        pid = int(parts[2])
    except ValueError:
        return True  # written by no run: it protects nothing
    return process_of(pid) != process


def _read(store: Store) -> Lease | None:
    """The lease in the store; an unreadable one counts as none (it protects nothing)."""
    body = store.get(LEASE_KEY)
    if body is None:
        return None
    try:
        data = json.loads(body)
        process = data.get("process")
        return Lease(
            owner=str(data["owner"]),
            expires=float(data["expires"]),
            process=process if isinstance(process, str) else None,
        )
    except (ValueError, KeyError, TypeError):
        return None


def _write(store: Store, lease: Lease) -> None:
    store.put(
        LEASE_KEY, lease.to_bytes(), content_type="application/json", cache_control="no-store"
    )


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def held(
    store: Store,
    seconds: float,
    settle: float,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    """Hold the lease for the block, or raise LockBusy naming who holds it."""
    owner = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"
    process = process_of(os.getpid())
    current = _read(store)
    if (
        current is not None
        and clock() < current.expires <= clock() + MAX_SECONDS
        and not _ended(current.process)
    ):
        raise LockBusy(
            f"another planner run ({current.owner}) holds the lease {LEASE_KEY} in "
            f"{store.describe()} until {_when(current.expires)}"
        )
    _write(store, Lease(owner, clock() + seconds, process))
    sleep(settle)
    check = _read(store)
    if check is None or check.owner != owner:
        raise LockBusy(
            f"another planner run ({check.owner if check else 'unknown'}) took the lease "
            f"{LEASE_KEY} in {store.describe()} at the same moment"
        )
    try:
        yield owner
    finally:
        if (still := _read(store)) is not None and still.owner == owner:
            _write(store, Lease(owner, 0.0, process))
