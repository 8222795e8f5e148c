"""Where each public file lives, and what index.json says about each epoch.

The planner writes this layout and every client reads it, so the keys and the index entry
are declared once, here. A `Source` is anything published files can be read from: the CDN
over HTTP (clientkit.verify.HttpSource) or, for the planner, a folder or a bucket.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from clientkit.epochs import (
    ISO_FORMAT,
    Epoch,
    EpochError,
    epoch_from_id,
    is_epoch_length,
    parse_instant,
)
from clientkit.errors import ClientKitError

INDEX_KEY = "index.json"
CURRENT_KEY = "current.json"
HTML_KEY = "index.html"
SCHEMA_KEY = "schema/assignment.schema.json"


class SourceError(ClientKitError):
    """Published files that cannot be read; the message names where and which key."""


class AccessDenied(SourceError):
    """Published files that refuse to be read (HTTP 403): not the files' absence, which is
    a 404, but a Space or CDN that is not public-read."""


class IndexUnreadable(ClientKitError, ValueError):
    """A published index.json that cannot be read."""


class Source(Protocol):
    """Published files, read-only."""

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""

    def describe(self) -> str:
        """A human-readable location for messages, never containing a secret."""


def parse_json(raw: bytes | str) -> Any:
    """A published file's JSON, every failure a ValueError. Text nested deeper than
    Python's parser goes (`[` a hundred thousand times) raises RecursionError, which is no
    ValueError: a reader catching ValueError for a broken file would crash instead."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def check_zipcodes(document: dict[str, Any]) -> None:
    """A ValueError unless the assignment's `zipcodes` is a list of objects with a
    `zipcode` text: as much of its shape as every reader relies on."""
    zipcodes = document.get("zipcodes")
    if not isinstance(zipcodes, list) or not all(
        isinstance(z, dict) and isinstance(z.get("zipcode"), str) for z in zipcodes
    ):
        raise ValueError("its zipcodes are not a list of {zipcode: ...} entries")


def sealed_key(epoch_id: str) -> str:
    return f"sealed/{epoch_id}.tlock"


def revealed_key(epoch_id: str) -> str:
    return f"epochs/{epoch_id}.json"


def audit_sealed_key(epoch_id: str) -> str:
    return f"audit/{epoch_id}.tlock"


def audit_revealed_key(epoch_id: str) -> str:
    return f"audit/{epoch_id}.json"


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
    begins = _listed_instant(epoch_id, "epochStart", start)
    ends = _listed_instant(epoch_id, "epochEnd", end)
    epoch = epoch_from_id(epoch_id, _listed_hours(epoch_id, start, end, ends - begins))
    if epoch.start != begins:
        raise EpochError(
            f"{epoch_id}: epochStart {start} to epochEnd {end} is not the epoch of this id "
            f"({epoch.start_iso} to {epoch.end_iso})"
        )
    return epoch


def _listed_hours(epoch_id: str, start: str, end: str, span: timedelta) -> int:
    """An index entry's length, `span` from its epochStart to its epochEnd. A refusal names
    them, never EPOCH_HOURS: the entry carries its own length, the setting plays no part
    (epoch_at, given the span, would blame the setting)."""
    hours = span / timedelta(hours=1)
    if not hours.is_integer() or not is_epoch_length(int(hours)):
        raise EpochError(
            f"{epoch_id}: epochStart {start} to epochEnd {end} is {hours:g} hours, not an "
            "epoch length (a whole number of hours that divides 24)"
        )
    return int(hours)


def _listed_instant(epoch_id: str, name: str, text: str) -> datetime:
    """An entry's epochStart or epochEnd, written as the planner writes them: "2026-11-25"
    would be read as midnight, and the entry refused for a length it does not mean."""
    try:
        instant = parse_instant(text)
    except EpochError:
        instant = None
    if instant is None or instant.strftime(ISO_FORMAT) != text:
        raise EpochError(
            f"{epoch_id}: {name} {text!r} is not an instant written YYYY-MM-DDTHH:MM:SSZ"
        )
    return instant


def read_index(store: Source) -> dict[str, IndexEntry]:
    """The published entries by epoch id (empty before the first plan)."""
    return index_entries(read_index_items(store), store)


def read_index_items(store: Source) -> list[dict[str, Any]]:
    """index.json's epoch entries as published (with `prev`, see clientkit.chain); none
    before the first plan."""
    return published_index_items(store) or []


def published_index_items(store: Source) -> list[dict[str, Any]] | None:
    """index.json's epoch entries as published, or None if there is no index.json: a file
    that is missing is not one that lists no epoch (a client that pinned a chain head takes
    the second for a removal, not the first)."""
    raw = store.get(INDEX_KEY)
    if raw is None:
        return None
    try:
        return _epochs_of(parse_json(raw))
    except (ValueError, TypeError) as exc:
        raise IndexUnreadable(
            f"{INDEX_KEY} in {store.describe()} is not a valid index: {exc}"
        ) from exc


JSON_KINDS = {
    "list": "array",
    "str": "string",
    "int": "number",
    "float": "number",
    "bool": "boolean",
}
"""JSON's names of what json.loads returns, where Python's differ (None aside: null)."""


def _epochs_of(document: Any) -> list[dict[str, Any]]:
    """The `epochs` of an index document, or a TypeError saying what the document is
    instead (a CDN may answer some other JSON for index.json)."""
    if not isinstance(document, dict):
        kind = "null" if document is None else JSON_KINDS.get(type(document).__name__, "value")
        raise TypeError(f"it is a JSON {kind}, not an object with an epochs list")
    if "epochs" not in document:
        raise TypeError("it is a JSON object without an epochs list")
    items = document["epochs"]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise TypeError("epochs is not a list of entries")
    return items


def _entry_of(item: dict[str, Any], number: int) -> IndexEntry:
    """An index entry; one missing a field is named by its place and the field (KeyError's
    own words are the field's name alone, `'epochStart'`)."""
    try:
        return IndexEntry.from_json(item)
    except KeyError as exc:
        raise ValueError(f"entry {number} of epochs has no {exc.args[0]!r}") from None


def index_entries(items: list[dict[str, Any]], store: Source) -> dict[str, IndexEntry]:
    """The entries by epoch id, each epoch once and in epoch order, as the planner writes
    them: an entry appended again for an epoch listed before would otherwise stand in for
    it, past the chain head a client pinned (which checks the first)."""
    try:
        entries = [_entry_of(item, number) for number, item in enumerate(items, 1)]
        for index in range(1, len(entries)):
            entry, before = entries[index], entries[index - 1]
            if entry.epoch.start <= before.epoch.start:
                twice = any(e.epoch_id == entry.epoch_id for e in entries[:index])
                raise ValueError(
                    f"the epoch {entry.epoch_id} is listed twice"
                    if twice
                    else f"{entry.epoch_id} follows {before.epoch_id}: not in epoch order"
                )
    except (ValueError, TypeError, OverflowError) as exc:
        raise IndexUnreadable(
            f"{INDEX_KEY} in {store.describe()} is not a valid index: {exc}"
        ) from exc
    return {e.epoch_id: e for e in entries}
