"""The assignment document: the exact bytes that are sealed, committed to and revealed.

Field names are camelCase because existing subnet clients parse them (a contract, docs/design.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clientkit.epochs import Epoch

SCHEMA_VERSION = 1
PAD_QUANTUM = 4096
PAD_HEADROOM = 1.25  # the padded size over the longest assignment it was set from
SCHEMA_PATH = Path(__file__).with_name("assignment.schema.json")


@dataclass(frozen=True)
class Zipcode:
    zipcode: str
    expected_listings: int
    state: str
    city: str
    county: str
    market_tier: str

    def to_json(self) -> dict[str, Any]:
        return {
            "zipcode": self.zipcode,
            "expectedListings": self.expected_listings,
            "state": self.state,
            "city": self.city,
            "county": self.county,
            "marketTier": self.market_tier,
        }


def derive(secret: bytes, purpose: str, epoch_id: str, size: int = 32) -> str:
    """A per-epoch value only the secret's holder can compute, as hex."""
    return hmac.new(secret, f"{purpose}/{epoch_id}".encode(), hashlib.sha256).digest()[:size].hex()


def build(
    epoch: Epoch,
    zipcodes: list[dict[str, Any]],
    secret: bytes,
    *,
    target_listings: int,
    tolerance_percent: float,
    algorithm_version: str,
    dataset_sha256: str,
) -> dict[str, Any]:
    """The assignment for one epoch; the salt makes its commitment unguessable."""
    total = sum(z["expectedListings"] for z in zipcodes)
    return {
        "schemaVersion": SCHEMA_VERSION,
        "epochId": epoch.id,
        "epochStart": epoch.start_iso,
        "epochEnd": epoch.end_iso,
        "nonce": derive(secret, "nonce", epoch.id, 16),
        "salt": derive(secret, "salt", epoch.id, 32),
        "targetListings": target_listings,
        "tolerancePercent": int(tolerance_percent)
        if float(tolerance_percent).is_integer()
        else tolerance_percent,
        "zipcodes": zipcodes,
        "metadata": {
            "totalExpectedListings": total,
            "zipcodeCount": len(zipcodes),
            "algorithmVersion": algorithm_version,
            "datasetSha256": dataset_sha256,
        },
    }


def audit(document: dict[str, Any], secret: bytes, count: int, commitment: str) -> dict[str, Any]:
    """The validators' key: which of the epoch's zipcodes are audited, chosen with the secret.

    Nothing in the public assignment marks them; the key is sealed to the epoch's end and
    carries the assignment's salt and commitment, so it provably belongs to that epoch.
    """
    epoch_id = document["epochId"]
    zips = [z["zipcode"] for z in document["zipcodes"]]
    ranked = sorted(zips, key=lambda z: derive(secret, f"audit/{z}", epoch_id))
    return {
        "schemaVersion": SCHEMA_VERSION,
        "epochId": epoch_id,
        "salt": document["salt"],
        "assignmentCommitment": commitment,
        "auditZipcodes": sorted(ranked[:count]),
    }


def to_bytes(document: dict[str, Any]) -> bytes:
    """Canonical serialisation: stable key order, compact, UTF-8, one trailing newline."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def pad(plaintext: bytes, size: int) -> bytes:
    """`plaintext` (to_bytes) padded to exactly `size` bytes with spaces before its newline.

    JSON allows whitespace after the value, so every parser reads the same document, and
    the sealed files of a plan have one length whatever their zipcode counts.
    """
    if len(plaintext) > size:
        raise ValueError(f"an assignment of {len(plaintext)} bytes cannot be padded to {size}")
    return plaintext[:-1] + b" " * (size - len(plaintext)) + b"\n"


def padded_size(longest: int) -> int:
    """The size to pad to, set from the longest assignment (in bytes) it must hold.

    The headroom lets a plan's later epochs, whose zipcodes vary, fit the same size: it is
    set once and grows only for an epoch longer than it, over 25% longer than the one it
    was set from, which is all a new size tells. Rounding up to PAD_QUANTUM makes its value
    say little about the assignment it was set from.
    """
    return math.ceil(longest * PAD_HEADROOM / PAD_QUANTUM) * PAD_QUANTUM


def schema_bytes() -> bytes:
    return SCHEMA_PATH.read_bytes()
