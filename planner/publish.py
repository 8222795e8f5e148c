"""Writing the public files in an order that never leaves a reader with a dangling pointer.

The layout itself (keys, index entries) is clientkit.layout, read by every client.
Immutable objects (sealed/, epochs/) go first and are never replaced by different bytes;
then index.json; then current.json and index.html. Each object carries the Cache-Control
that DESIGN.md asks for, so the CDN keeps immutable files for a year and pointers briefly.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from clientkit import drand
from clientkit.epochs import Epoch
from clientkit.layout import SCHEMA_KEY, IndexEntry
from planner.store import Store

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=30"
SCHEMA_CACHE = "public, max-age=3600"
JSON = "application/json"
HTML = "text/html; charset=utf-8"
OCTETS = "application/octet-stream"

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


class PublishConflict(RuntimeError):
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
