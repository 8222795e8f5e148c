"""The planner's private state: what it must remember between runs and must never publish.

It holds the history that cooldowns need and the plaintext of every epoch sealed, until the
epoch ends (the ciphertext is public, and can be sealed again from the plaintext; the
running epoch's is kept past its reveal so that a lost published folder gets its sealed and
plain files back). It is stored encrypted under a key derived from the planner's master key
(planner.keys), next to the published files (a private object in the bucket), so a cron job
on a fresh machine with an empty disk continues exactly where the last one stopped.

Plaintexts are kept unpadded, with the size each is padded to when it is sealed, committed
to or revealed: the planner holds the state several times over when it saves it, and
padded plaintexts added 120 MB to the peak memory of a national year (bench/RESULTS.md).

Format 2 (header S46STATE2) is encrypted under HMAC(master key, label); format 1 (S46STATE1,
before the master key existed) under HMAC(secret, label). A format-1 file is still read,
given the key it was written under, and rewritten in format 2 as soon as it is read.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from planner.assignment import pad
from planner.errors import PlannerError
from planner.store import Store, named

STATE_KEY = "planner-state.enc"
MAGIC = b"S46STATE2"
LEGACY_MAGIC = b"S46STATE1"
CONTENT_TYPE = "application/octet-stream"
CACHE_CONTROL = "no-store"


class StateError(PlannerError, RuntimeError):
    """Private state that cannot be read with this secret, or is damaged."""


@dataclass(frozen=True)
class Pending:
    """An epoch that is sealed and committed and has not ended (it may be revealed)."""

    plaintext: bytes  # the assignment, unpadded (assignment.to_bytes)
    reveal_round: int
    sealed_at: str
    sealed_sha256: str | None = None
    audit: bytes | None = None  # the validators' key, sealed to the epoch's end
    audit_round: int | None = None
    audit_sha256: str | None = None
    # What `plaintext` is padded to. None in states written before it was kept: their
    # plaintext is stored padded.
    padded_size: int | None = None

    @property
    def padded(self) -> bytes:
        """The bytes sealed, committed to and revealed."""
        return self.plaintext if self.padded_size is None else pad(self.plaintext, self.padded_size)


@dataclass
class PlannerState:
    """`last_assigned` maps zipcode to the unix start of the latest epoch that includes it;
    `committed` keeps the index.json entry of every epoch this planner sealed, so a removed
    or rewritten entry can be put back; `padded_size` is the length every assignment is
    padded to (planner.jobs), None until the first run that seals sets it (a state written
    before it was kept has none either, and the next run that seals sets it the same way)."""

    last_assigned: dict[str, int] = field(default_factory=dict)
    pending: dict[str, Pending] = field(default_factory=dict)
    dataset_sha256: str | None = None
    committed: dict[str, dict[str, Any]] = field(default_factory=dict)
    padded_size: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "datasetSha256": self.dataset_sha256,
            "lastAssigned": dict(sorted(self.last_assigned.items())),
            "pending": {
                epoch_id: {
                    "plaintext": p.plaintext.decode(),
                    "revealRound": p.reveal_round,
                    "sealedAt": p.sealed_at,
                    "sealedSha256": p.sealed_sha256,
                    "audit": None if p.audit is None else p.audit.decode(),
                    "auditRound": p.audit_round,
                    "auditSha256": p.audit_sha256,
                    "paddedSize": p.padded_size,
                }
                for epoch_id, p in sorted(self.pending.items())
            },
            "committed": dict(sorted(self.committed.items())),
            "paddedSize": self.padded_size,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlannerState:
        return cls(
            last_assigned={str(k): int(v) for k, v in data["lastAssigned"].items()},
            pending={
                epoch_id: Pending(
                    plaintext=p["plaintext"].encode(),
                    reveal_round=int(p["revealRound"]),
                    sealed_at=str(p["sealedAt"]),
                    sealed_sha256=p.get("sealedSha256"),
                    audit=None if p.get("audit") is None else p["audit"].encode(),
                    audit_round=p.get("auditRound"),
                    audit_sha256=p.get("auditSha256"),
                    padded_size=p.get("paddedSize"),
                )
                for epoch_id, p in data["pending"].items()
            },
            dataset_sha256=data.get("datasetSha256"),
            committed=dict(data.get("committed", {})),
            padded_size=data.get("paddedSize"),
        )


def state_key(master: bytes) -> bytes:
    """An AES-256 key for the state, independent of every other use of the master key."""
    return hmac.new(master, b"s46-planner-state-key/v2", hashlib.sha256).digest()


def encrypt(state: PlannerState, master: bytes) -> bytes:
    nonce = os.urandom(12)
    payload = gzip.compress(json.dumps(state.to_json()).encode(), compresslevel=1, mtime=0)
    return MAGIC + nonce + AESGCM(state_key(master)).encrypt(nonce, payload, MAGIC)


def described(store: Store) -> str:
    """The state file and where it is, as errors name it: a bucket and a folder may both be
    configured, and the operator must know which state was meant."""
    return f"the planner state ({STATE_KEY} in {named(store)})"


def decrypt(
    blob: bytes, master: bytes, legacy_key: bytes | None = None, name: str = "the planner state"
) -> PlannerState:
    """Open a state file; `legacy_key` (planner.keys.legacy_state_key) opens format 1. Errors
    call it `name` (`described(store)` says where it is)."""
    if blob.startswith(MAGIC):
        magic, key = MAGIC, state_key(master)
    elif blob.startswith(LEGACY_MAGIC):
        if legacy_key is None:
            raise StateError(
                f"{name} is in format 1 (written before keys were derived through "
                "scrypt): run `planner tick` once with PLANNER_SECRET, which converts it"
            )
        magic, key = LEGACY_MAGIC, legacy_key
    else:
        raise StateError(f"{name} is not a planner state file (wrong header)")
    nonce, body = blob[len(magic) : len(magic) + 12], blob[len(magic) + 12 :]
    try:
        payload = AESGCM(key).decrypt(nonce, body, magic)
    except InvalidTag as exc:
        raise StateError(
            f"{name} cannot be opened with this PLANNER_SECRET (another secret, or a damaged file)"
        ) from exc
    try:
        return PlannerState.from_json(json.loads(gzip.decompress(payload)))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StateError(f"{name} is damaged: {exc}") from exc


def load(store: Store, master: bytes, legacy_key: bytes | None = None) -> PlannerState | None:
    """The state, or None if there is none; a format-1 file is rewritten in format 2 at once."""
    blob = store.get(STATE_KEY)
    if blob is None:
        return None
    state = decrypt(blob, master, legacy_key, described(store))
    if blob.startswith(LEGACY_MAGIC):
        save(store, state, master)
    return state


def save(store: Store, state: PlannerState, master: bytes) -> None:
    store.put(
        STATE_KEY, encrypt(state, master), content_type=CONTENT_TYPE, cache_control=CACHE_CONTROL
    )
