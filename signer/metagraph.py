"""The metagraph snapshot: who is registered, with which coldkey, permit and stakes.

Requests read a JSON snapshot file, never the chain: bittensor costs most of a second to
import and the chain may be unreachable. A refresher thread (or a cron running
`signer sync-metagraph`) rewrites the file atomically; the store notices the new file
within RECHECK_SECONDS (it looks at the file no more often: a stat on every request was 4%
of a credential request's time, bench/RESULTS.md), keeps the last good snapshot when a new
one is unusable, and refuses to answer (503) once the snapshot is older than the
configured maximum age.

Unusable also means: no neurons at all (everyone would be refused as unregistered, so the
signer is not ready rather than ready and useless) and a `fetchedAt` in the future (such a
snapshot would never go stale). A snapshot file that disappears is reported by `/readyz`
while the last good snapshot is served until it is too old.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bittensor_core import ss58_decode
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from clientkit.files import replace_file
from clientkit.layout import parse_json
from signer.errors import SignerError, SignerFailure

log = logging.getLogger("signer")

FUTURE_TOLERANCE = 60
"""Seconds a snapshot's fetchedAt may be ahead of this server's clock (clock skew)."""
RECHECK_SECONDS = 1.0
"""How often, at most, a store looks at its file to see whether it changed."""


class SnapshotError(SignerFailure, ValueError):
    """A snapshot file that cannot be used; the message says which part is wrong."""


@dataclass(frozen=True)
class Neuron:
    uid: int
    hotkey: str
    coldkey: str
    validator_permit: bool
    stake: float
    """Alpha stake: what the subnet's own API compares with its minimum."""
    total_stake: float
    """Alpha plus TAO stake times the TAO weight (what validator permits are based on)."""


@dataclass(frozen=True)
class Snapshot:
    netuid: int
    block: int
    fetched_at: datetime
    neurons: Mapping[str, Neuron]


class _NeuronEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    uid: int = Field(ge=0)
    hotkey: str
    coldkey: str
    validatorPermit: bool
    stake: float = Field(ge=0)
    totalStake: float | None = Field(default=None, ge=0)

    @field_validator("hotkey", "coldkey")
    @classmethod
    def _ss58(cls, value: str) -> str:
        try:
            ss58_decode(value)
        except ValueError:
            raise ValueError("not an SS58 address") from None
        return value

    @field_validator("stake", "totalStake", mode="before")
    @classmethod
    def _integral_stake(cls, value: Any) -> Any:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


class _SnapshotFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    netuid: int = Field(ge=0)
    block: int = Field(ge=0)
    fetchedAt: str
    neurons: list[_NeuronEntry]


def parse_snapshot(data: Any, netuid: int) -> Snapshot:
    """Validate a decoded snapshot document for subnet `netuid`."""
    try:
        doc = _SnapshotFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "document"
        raise SnapshotError(f"{where}: {first['msg']}") from None
    if doc.netuid != netuid:
        raise SnapshotError(f"snapshot is for netuid {doc.netuid}, this signer serves {netuid}")
    try:
        fetched = datetime.fromisoformat(doc.fetchedAt.replace("Z", "+00:00"))
    except ValueError:
        raise SnapshotError("fetchedAt: not an ISO-8601 instant") from None
    if fetched.tzinfo is None:
        raise SnapshotError("fetchedAt: needs a timezone (e.g. 2026-11-25T16:00:00Z)")
    if not doc.neurons:
        raise SnapshotError(
            f"neurons: the snapshot of netuid {doc.netuid} at block {doc.block} lists no "
            "neurons, so every hotkey would be refused"
        )
    neurons: dict[str, Neuron] = {}
    for entry in doc.neurons:
        if entry.hotkey in neurons:
            raise SnapshotError(f"neurons: hotkey of uid {entry.uid} appears twice")
        total = entry.stake if entry.totalStake is None else entry.totalStake
        neurons[entry.hotkey] = Neuron(
            entry.uid, entry.hotkey, entry.coldkey, entry.validatorPermit, entry.stake, total
        )
    return Snapshot(doc.netuid, doc.block, fetched.astimezone(UTC), neurons)


def load_snapshot(path: Path, netuid: int) -> Snapshot:
    try:
        data = parse_json(path.read_bytes())
    except OSError as exc:
        raise SnapshotError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise SnapshotError(f"{path} is not valid JSON: {exc}") from None
    try:
        return parse_snapshot(data, netuid)
    except SnapshotError as exc:
        raise SnapshotError(f"{path}: {exc}") from None


def write_snapshot(path: Path, data: Mapping[str, Any]) -> None:
    """Replace `path` in one step, so a reader sees the old file or the new one, never half
    (clientkit.files.replace_file; readable by this user alone, as mkstemp made it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, (json.dumps(data, indent=2) + "\n").encode(), 0o600)


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def snapshot_from_metagraph(metagraph: Any, fetched_at: datetime) -> dict[str, Any]:
    """The snapshot document for a bittensor `Metagraph` (what `subnets.metagraph()` returns).

    `stake` is the neuron's alpha stake in the subnet (bittensor's `alpha_stake`), the figure
    the subnet's own API compares with its validator minimum; `totalStake` is its total stake
    weight (`total_stake`: alpha plus TAO times the TAO weight), the figure validator permits
    are based on.
    """
    return {
        "netuid": int(metagraph.netuid),
        "block": int(metagraph.block),
        "fetchedAt": iso(fetched_at),
        "neurons": [
            {
                "uid": int(neuron.uid),
                "hotkey": str(neuron.hotkey),
                "coldkey": str(neuron.coldkey),
                "validatorPermit": bool(neuron.validator_permit),
                "stake": float(neuron.alpha_stake.amount),
                "totalStake": float(neuron.total_stake.amount),
            }
            for neuron in metagraph.neurons
        ],
    }


def fetch_metagraph(network: str, netuid: int) -> Any:
    """Read the subnet's metagraph from the chain. The only place bittensor is imported."""
    import bittensor

    subtensor = bittensor.Subtensor(network)
    try:
        metagraph = subtensor.subnets.metagraph(netuid, commitments=False)
    finally:
        subtensor.close()
    if metagraph is None:
        raise SnapshotError(f"netuid {netuid} does not exist on {network}")
    return metagraph


class MetagraphStore:
    """The last good snapshot of one file, reloaded when the file changes (noticed within
    `recheck` seconds; `reload` looks at once, as the refresher does after writing)."""

    def __init__(
        self,
        path: Path,
        netuid: int,
        max_age: int,
        clock: Callable[[], float],
        recheck: float = RECHECK_SECONDS,
        ticker: Callable[[], float] = time.monotonic,
    ):
        self.path = path
        self.netuid = netuid
        self.max_age = max_age
        self.clock = clock
        self.recheck = recheck
        self._ticker = ticker
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._next_look = float("-inf")
        self.problem: str | None = None

    def snapshot(self) -> Snapshot | None:
        """The newest usable snapshot; the file is looked at again once `recheck` seconds
        (by `ticker`, monotonic) have passed since the last look."""
        if self._ticker() < self._next_look:
            return self._snapshot
        return self.reload()

    def reload(self) -> Snapshot | None:
        """Look at the file now, and re-read it if it has changed."""
        self._next_look = self._ticker() + self.recheck
        try:
            info = os.stat(self.path)
        except OSError:
            with self._lock:
                self._stamp = None
                self.problem = self._missing()
                return self._snapshot
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._snapshot = self._check_date(load_snapshot(self.path, self.netuid))
                    self.problem = None
                except SnapshotError as exc:
                    self.problem = str(exc)
                    kept = "keeping the last good one" if self._snapshot else "none served yet"
                    log.warning("metagraph snapshot unusable, %s: %s", kept, exc)
            return self._snapshot

    def _missing(self) -> str:
        if self._snapshot is None:
            return f"no metagraph snapshot at {self.path} yet"
        return (
            f"the snapshot file {self.path} is missing (deleted?); serving the last good "
            f"snapshot (block {self._snapshot.block}) until it is too old"
        )

    def _check_date(self, snapshot: Snapshot) -> Snapshot:
        ahead = -self.age(snapshot)
        if ahead > FUTURE_TOLERANCE:
            raise SnapshotError(
                f"{self.path}: fetchedAt {iso(snapshot.fetched_at)} is {int(ahead)} s ahead of "
                "this server's clock; such a snapshot would never go stale (check the clock "
                "of the machine that wrote it)"
            )
        return snapshot

    def age(self, snapshot: Snapshot) -> float:
        return self.clock() - snapshot.fetched_at.timestamp()

    def is_stale(self, snapshot: Snapshot) -> bool:
        return self.max_age > 0 and self.age(snapshot) > self.max_age

    def require(self) -> Snapshot:
        """A snapshot fit to decide with, or 503: fail closed rather than trust old data."""
        snapshot = self.snapshot()
        if snapshot is None:
            raise SignerError(
                503,
                "metagraph_unavailable",
                "no metagraph snapshot yet; retry shortly (the operator runs sync-metagraph)",
                headers={"Retry-After": "60"},
            )
        if self.is_stale(snapshot):
            raise SignerError(
                503,
                "metagraph_stale",
                f"the metagraph snapshot is {int(self.age(snapshot))} s old, more than the "
                f"{self.max_age} s allowed; retry shortly",
                headers={"Retry-After": "60"},
            )
        return snapshot

    def status(self) -> dict[str, Any]:
        """What /readyz reports: the file as it is now, not as last looked at."""
        snapshot = self.reload()
        if snapshot is None:
            return {"available": False, "usable": False, "problem": self.problem}
        return {
            "available": True,
            "usable": not self.is_stale(snapshot),
            "netuid": snapshot.netuid,
            "block": snapshot.block,
            "fetchedAt": iso(snapshot.fetched_at),
            "ageSeconds": round(self.age(snapshot), 1),
            "maxAgeSeconds": self.max_age,
            "neurons": len(snapshot.neurons),
            "problem": self.problem,
        }


class Refresher:
    """Keeps the snapshot file fresh from the chain; a failed sync keeps the last good file."""

    def __init__(
        self,
        store: MetagraphStore,
        fetch: Callable[[], Any],
        interval: float,
    ) -> None:
        self.store = store
        self.fetch = fetch
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metagraph-refresher", daemon=True)

    def refresh_once(self) -> bool:
        """One sync: True when a new snapshot was written."""
        fetched_at = datetime.fromtimestamp(self.store.clock(), UTC)
        try:
            document = snapshot_from_metagraph(self.fetch(), fetched_at)
            parse_snapshot(document, self.store.netuid)
            write_snapshot(self.store.path, document)
        except Exception as exc:
            log.warning("metagraph refresh failed, serving the last good snapshot: %s", exc)
            return False
        self.store.reload()
        return True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while True:
            self.refresh_once()
            if self._stop.wait(self.interval):
                return
