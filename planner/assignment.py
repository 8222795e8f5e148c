"""The assignment document: the exact bytes that are sealed, committed to and revealed.

Field names are camelCase because existing subnet clients parse them (a contract, docs/design.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clientkit.epochs import Epoch

SCHEMA_VERSION = 1
PAD_QUANTUM = 4096
METADATA_DIGITS = 32  # room for the totals' digits, which an empty assignment lacks
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


def to_bytes(document: dict[str, Any], size: int | None = None) -> bytes:
    """Canonical serialisation: stable key order, compact, UTF-8, one trailing newline.

    With `size`, spaces before the newline pad the bytes to exactly `size` (JSON allows
    whitespace after the value, so every parser reads the same document), and every sealed
    file of a plan has one length whatever its zipcode count. A document longer than `size`
    is padded to the next multiple of PAD_QUANTUM instead.
    """
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    if size is None:
        return body + b"\n"
    if len(body) + 1 > size:
        size = -(-(len(body) + 1) // PAD_QUANTUM) * PAD_QUANTUM
    return body + b" " * (size - len(body) - 1) + b"\n"


def padded_size(empty: dict[str, Any], entries: list[dict[str, Any]], high: int) -> int:
    """The one size every assignment of a plan is padded to: that of the longest possible one.

    An epoch holds at most as many zipcodes as the smallest listing counts that fit under
    the band's upper bound (`high`); each takes at most the longest entry's bytes. `empty`
    is an assignment with no zipcodes. Rounded up to PAD_QUANTUM, so the size changes only
    when the eligible zipcodes or the band change.
    """
    counts = sorted(int(e["expectedListings"]) for e in entries)
    most, total = 0, 0
    for count in counts:
        if total + count > high:
            break
        most, total = most + 1, total + count
    longest = max((len(to_bytes(e)) for e in entries), default=0)
    bound = len(to_bytes(empty)) + most * longest + METADATA_DIGITS
    return -(-bound // PAD_QUANTUM) * PAD_QUANTUM


def schema_bytes() -> bytes:
    return SCHEMA_PATH.read_bytes()
