"""Writing the public files in an order that never leaves a reader with a dangling pointer.

The layout itself (keys, index entries) is clientkit.layout, read by every client.
Immutable objects (sealed/, epochs/) go first and are never replaced by different bytes;
then index.json; then current.json and index.html. Each object carries the Cache-Control
that docs/design.md specifies, so the CDN keeps immutable files for a year and pointers briefly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from clientkit import chain, drand
from clientkit.epochs import Epoch
from clientkit.layout import SCHEMA_KEY, IndexEntry, revealed_key
from planner import charts
from planner.errors import PlannerError
from planner.store import Store

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=30"
SCHEMA_CACHE = "public, max-age=3600"
JSON = "application/json"
HTML = "text/html; charset=utf-8"
OCTETS = "application/octet-stream"

TEMPLATES = Path(__file__).with_name("templates")


class PublishConflict(PlannerError, RuntimeError):
    """An immutable object already published with other bytes: never overwrite it."""


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


def index_bytes(entries: dict[str, IndexEntry], epoch_hours: int) -> bytes:
    document = {
        "schemaVersion": 1,
        "epochHours": epoch_hours,
        "drand": drand.chain_info(),
        "schema": SCHEMA_KEY,
        "epochs": chain.chained([entries[k].to_json() for k in sorted(entries)]),
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def status_page(
    entries: dict[str, IndexEntry],
    current: Epoch,
    epoch_hours: int,
    read: Callable[[str], bytes | None],
    window: int = 6,
) -> bytes:
    """index.html: the epochs around `current`, so it changes only when an epoch starts.

    Its charts use only what is public: the revealed assignments of the epochs shown
    (`read` fetches them), never a sealed one's plaintext.
    """
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
    start = current.start - timedelta(hours=epoch_hours * window)
    end = current.start + timedelta(hours=epoch_hours * (window * 2 + 1))
    shown = [e for k, e in sorted(entries.items()) if start <= e.epoch.start < end]
    upcoming = [e for e in shown if e.epoch.start > current.start]
    documents = _revealed_documents(shown, read)
    html = env.get_template("index.html").render(
        entries=shown,
        epoch_hours=epoch_hours,
        current_id=current.id,
        next_reveal=upcoming[0] if upcoming else None,
        horizon=max(entries) if entries else None,
        chain=drand.chain_info(),
        schema_key=SCHEMA_KEY,
        listings=charts.column_chart(
            [e.epoch.start.strftime("%d %H:%M") for e in shown],
            [_total(documents.get(e.epoch_id)) for e in shown],
            [e.epoch_id for e in shown],
        ),
        states=state_rows(list(documents.values())),
        revealed_count=len(documents),
    )
    return html.encode()


def _revealed_documents(
    shown: list[IndexEntry], read: Callable[[str], bytes | None]
) -> dict[str, dict[str, Any]]:
    documents = {}
    for entry in shown:
        body = read(revealed_key(entry.epoch_id)) if entry.revealed else None
        if body is not None:
            documents[entry.epoch_id] = json.loads(body)
    return documents


def _total(document: dict[str, Any] | None) -> int | None:
    return None if document is None else int(document["metadata"]["totalExpectedListings"])


def state_rows(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per state, over the revealed assignments: listings, distinct zipcodes, share, bar width."""
    listings: dict[str, int] = {}
    zipcodes: dict[str, set[str]] = {}
    for document in documents:
        for item in document["zipcodes"]:
            state = item["state"]
            listings[state] = listings.get(state, 0) + int(item["expectedListings"])
            zipcodes.setdefault(state, set()).add(item["zipcode"])
    whole = sum(listings.values()) or 1
    widest = max(listings.values(), default=1)
    return [
        {
            "state": state,
            "listings": listings[state],
            "zipcodes": len(zipcodes[state]),
            "share": round(100 * listings[state] / whole, 1),
            "width": round(360 * listings[state] / widest, 1),
        }
        for state in sorted(listings, key=lambda s: (-listings[s], s))
    ]
