"""Writing the public files in an order that never leaves a reader with a dangling pointer.

Immutable objects (sealed/, epochs/) go first and are never replaced by different bytes;
then index.json; then current.json and index.html. Each object carries the Cache-Control
that DESIGN.md asks for, so the CDN keeps immutable files for a year and pointers briefly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from planner import drand
from planner.epochs import Epoch, EpochError, epoch_from_id, parse_instant
from planner.store import Store

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=30"
SCHEMA_CACHE = "public, max-age=3600"
JSON = "application/json"
HTML = "text/html; charset=utf-8"
OCTETS = "application/octet-stream"

INDEX_KEY = "index.json"
CURRENT_KEY = "current.json"
HTML_KEY = "index.html"
SCHEMA_KEY = "schema/assignment.schema.json"
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


class PublishConflict(RuntimeError):
    """An immutable object already published with other bytes: never overwrite it."""


class IndexUnreadable(ValueError):
    """A published index.json that cannot be read."""


def sealed_key(epoch_id: str) -> str:
    return f"sealed/{epoch_id}.tlock"


def revealed_key(epoch_id: str) -> str:
    return f"epochs/{epoch_id}.json"


def audit_sealed_key(epoch_id: str) -> str:
    return f"audit/{epoch_id}.tlock"


def audit_revealed_key(epoch_id: str) -> str:
    return f"audit/{epoch_id}.json"


def put_immutable(store: Store, key: str, data: bytes, content_type: str) -> bool:
    """Write once; True when written now, False when the same bytes were already there."""
    existing = store.get(key)
    if existing == data:
        return False
    if existing is not None:
        raise PublishConflict(
            f"{key} in {store.describe()} is already published with different bytes; "
            "published objects are immutable, so nothing was overwritten"
        )
    store.put(key, data, content_type=content_type, cache_control=IMMUTABLE)
    return True


def put_if_changed(store: Store, key: str, data: bytes, content_type: str, cache: str) -> bool:
    if store.get(key) == data:
        return False
    store.put(key, data, content_type=content_type, cache_control=cache)
    return True


@dataclass(frozen=True)
class AuditEntry:
    """The validators' key of an epoch: sealed to its end, revealed after it."""

    reveal_round: int
    commitment: str
    revealed: bool = False


@dataclass(frozen=True)
class IndexEntry:
    epoch_id: str
    epoch_start: str
    epoch_end: str
    reveal_round: int
    commitment: str
    revealed: bool
    sealed_at: str
    audit: AuditEntry | None = None

    def to_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "epochId": self.epoch_id,
            "epochStart": self.epoch_start,
            "epochEnd": self.epoch_end,
            "revealRound": self.reveal_round,
            "sealed": sealed_key(self.epoch_id),
            "commitment": self.commitment,
            "revealed": revealed_key(self.epoch_id) if self.revealed else None,
            "sealedAt": self.sealed_at,
        }
        if self.audit is not None:
            item["audit"] = {
                "revealRound": self.audit.reveal_round,
                "sealed": audit_sealed_key(self.epoch_id),
                "commitment": self.audit.commitment,
                "revealed": audit_revealed_key(self.epoch_id) if self.audit.revealed else None,
            }
        return item

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> IndexEntry:
        audit = item.get("audit")
        listed_epoch(item["epochId"], item["epochStart"], item["epochEnd"])
        return cls(
            epoch_id=item["epochId"],
            epoch_start=item["epochStart"],
            epoch_end=item["epochEnd"],
            reveal_round=int(item["revealRound"]),
            commitment=item["commitment"],
            revealed=item["revealed"] is not None,
            sealed_at=item["sealedAt"],
            audit=None
            if audit is None
            else AuditEntry(
                reveal_round=int(audit["revealRound"]),
                commitment=audit["commitment"],
                revealed=audit["revealed"] is not None,
            ),
        )

    @property
    def epoch(self) -> Epoch:
        return listed_epoch(self.epoch_id, self.epoch_start, self.epoch_end)


def listed_epoch(epoch_id: str, start: str, end: str) -> Epoch:
    """The epoch an index entry describes, on the grid of its own length: any length that
    divides 24 reads back without knowing EPOCH_HOURS."""
    hours = (parse_instant(end) - parse_instant(start)) / timedelta(hours=1)
    if not hours.is_integer():
        raise EpochError(f"{epoch_id}: epochStart to epochEnd is not a whole number of hours")
    epoch = epoch_from_id(epoch_id, int(hours))
    if (epoch.start_iso, epoch.end_iso) != (start, end):
        raise EpochError(f"{epoch_id}: epochStart and epochEnd do not match the epoch id")
    return epoch


def read_index(store: Store) -> dict[str, IndexEntry]:
    """The published entries by epoch id (empty before the first plan)."""
    raw = store.get(INDEX_KEY)
    if raw is None:
        return {}
    try:
        items = json.loads(raw)["epochs"]
        entries = [IndexEntry.from_json(item) for item in items]
    except (ValueError, KeyError, TypeError) as exc:
        raise IndexUnreadable(
            f"{INDEX_KEY} in {store.describe()} is not a valid index: {exc}"
        ) from exc
    return {e.epoch_id: e for e in entries}


def index_bytes(entries: dict[str, IndexEntry], epoch_hours: int) -> bytes:
    document = {
        "schemaVersion": 1,
        "epochHours": epoch_hours,
        "drand": drand.chain_info(),
        "schema": SCHEMA_KEY,
        "epochs": [entries[k].to_json() for k in sorted(entries)],
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def status_page(
    entries: dict[str, IndexEntry], current: Epoch, epoch_hours: int, window: int = 6
) -> bytes:
    """index.html: the epochs around `current`, so it changes only when an epoch starts."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
    start = current.start - timedelta(hours=epoch_hours * window)
    end = current.start + timedelta(hours=epoch_hours * (window * 2 + 1))
    shown = [e for k, e in sorted(entries.items()) if start <= e.epoch.start < end]
    upcoming = [e for e in shown if e.epoch.start > current.start]
    html = env.get_template("index.html").render(
        entries=shown,
        epoch_hours=epoch_hours,
        current_id=current.id,
        next_reveal=upcoming[0] if upcoming else None,
        horizon=max(entries) if entries else None,
        chain=drand.chain_info(),
        schema_key=SCHEMA_KEY,
    )
    return html.encode()
