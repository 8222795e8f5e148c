"""The planner's private state: what it must remember between runs and must never publish.

It holds the history that cooldowns need and the plaintext of every epoch sealed but not
yet revealed (the ciphertext is public, and can be sealed again from the plaintext). It is
stored encrypted under a key derived from PLANNER_SECRET, next to the published files (a
private object in the bucket), so a cron job on a fresh machine with an empty disk
continues exactly where the last one stopped.
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

from planner.errors import PlannerError
from planner.store import Store

STATE_KEY = "planner-state.enc"
MAGIC = b"S46STATE1"
CONTENT_TYPE = "application/octet-stream"
CACHE_CONTROL = "no-store"


class StateError(PlannerError, RuntimeError):
    """Private state that cannot be read with this secret, or is damaged."""


@dataclass(frozen=True)
class Pending:
    """An epoch that is sealed and committed but not yet revealed."""

    plaintext: bytes
    reveal_round: int
    sealed_at: str
    sealed_sha256: str | None = None
    audit: bytes | None = None  # the validators' key, sealed to the epoch's end
    audit_round: int | None = None
    audit_sha256: str | None = None


@dataclass
class PlannerState:
    """`last_assigned` maps zipcode to the unix start of the latest epoch that includes it."""

    last_assigned: dict[str, int] = field(default_factory=dict)
    pending: dict[str, Pending] = field(default_factory=dict)
    dataset_sha256: str | None = None

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
                }
                for epoch_id, p in sorted(self.pending.items())
            },
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
                )
                for epoch_id, p in data["pending"].items()
            },
            dataset_sha256=data.get("datasetSha256"),
        )


def state_key(secret: bytes) -> bytes:
    """An AES-256 key for the state, independent of every other use of the secret."""
    return hmac.new(secret, b"s46-planner-state-key/v1", hashlib.sha256).digest()


def encrypt(state: PlannerState, secret: bytes) -> bytes:
    nonce = os.urandom(12)
    payload = gzip.compress(json.dumps(state.to_json()).encode(), compresslevel=1, mtime=0)
    return MAGIC + nonce + AESGCM(state_key(secret)).encrypt(nonce, payload, MAGIC)


def decrypt(blob: bytes, secret: bytes) -> PlannerState:
    if not blob.startswith(MAGIC):
        raise StateError("the planner state is not a planner state file (wrong header)")
    nonce, body = blob[len(MAGIC) : len(MAGIC) + 12], blob[len(MAGIC) + 12 :]
    try:
        payload = AESGCM(state_key(secret)).decrypt(nonce, body, MAGIC)
    except InvalidTag as exc:
        raise StateError(
            "the planner state cannot be opened with this PLANNER_SECRET (another secret, "
            "or a damaged file)"
        ) from exc
    try:
        return PlannerState.from_json(json.loads(gzip.decompress(payload)))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StateError(f"the planner state is damaged: {exc}") from exc


def load(store: Store, secret: bytes) -> PlannerState | None:
    blob = store.get(STATE_KEY)
    return None if blob is None else decrypt(blob, secret)


def save(store: Store, state: PlannerState, secret: bytes) -> None:
    store.put(
        STATE_KEY, encrypt(state, secret), content_type=CONTENT_TYPE, cache_control=CACHE_CONTROL
    )
