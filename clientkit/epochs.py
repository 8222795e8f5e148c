"""The epoch clock: a UTC grid of EPOCH_HOURS-hour epochs and their drand reveal rounds.

Shared by the planner (what to seal, when to reveal) and the signer (which folder a miner
may write to now), so both agree on the same instant without talking to each other.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

from clientkit.errors import ClientKitError, a_type

EPOCH_HOURS = 4
ID_FORMAT = "%Y-%m-%dT%H-%M-%S"
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# drand quicknet: unchained BLS on G1, one round every 3 s since genesis.
QUICKNET_CHAIN_HASH = "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"
QUICKNET_GENESIS = 1692803367
QUICKNET_PERIOD = 3


class EpochError(ClientKitError, ValueError):
    """An epoch id or instant that is not on the grid."""


def parse_instant(text: str) -> datetime:
    """ISO-8601 to an aware UTC datetime; a naive value is taken as UTC."""
    if not isinstance(text, str):
        raise EpochError(f"not an ISO-8601 instant: {text!r}")
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise EpochError(f"not an ISO-8601 instant: {text!r}") from exc
    return as_utc(value)


def as_utc(instant: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as UTC, as a naive ISO-8601 text is."""
    if not isinstance(instant, datetime):
        raise TypeError(f"an instant is a datetime, got {type(instant).__name__} {instant!r}")
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def reveal_round(start: datetime) -> int:
    """The first quicknet round published at or after `start` (contract formula)."""
    return math.ceil((start.timestamp() - QUICKNET_GENESIS) / QUICKNET_PERIOD) + 1


def quicknet_round(epoch: Epoch) -> int:
    """The round an epoch's assignment is sealed to: the one that opens it at its start."""
    return epoch.reveal_round


def round_time(round_number: int) -> datetime:
    """When quicknet publishes `round_number`."""
    return datetime.fromtimestamp(QUICKNET_GENESIS + (round_number - 1) * QUICKNET_PERIOD, tz=UTC)


@dataclass(frozen=True, order=True)
class Epoch:
    """One slot of the grid, identified by its start."""

    start: datetime
    hours: int = EPOCH_HOURS

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=self.hours)

    @cached_property
    def id(self) -> str:
        """`YYYY-MM-DDTHH-00-00`, formatted once per Epoch (the signer asks on every request)."""
        return self.start.strftime(ID_FORMAT)

    @property
    def start_iso(self) -> str:
        return self.start.strftime(ISO_FORMAT)

    @property
    def end_iso(self) -> str:
        return self.end.strftime(ISO_FORMAT)

    @property
    def reveal_round(self) -> int:
        return reveal_round(self.start)

    def next(self) -> Epoch:
        return Epoch(self.end, self.hours)

    def previous(self) -> Epoch:
        return Epoch(self.start - timedelta(hours=self.hours), self.hours)


def is_epoch_length(hours: int) -> bool:
    """Whether epochs may be `hours` long: a whole number that divides 24, so that every UTC
    day starts an epoch and the grid needs no origin but midnight."""
    return hours > 0 and 24 % hours == 0


def epoch_at(instant: datetime, hours: int = EPOCH_HOURS) -> Epoch:
    """The epoch that contains `instant`."""
    if not is_epoch_length(hours):
        raise EpochError(f"EPOCH_HOURS must divide 24, got {hours}")
    instant = instant.astimezone(UTC)
    day = instant.replace(hour=0, minute=0, second=0, microsecond=0)
    return Epoch(day + timedelta(hours=(instant.hour // hours) * hours), hours)


def epoch_from_id(epoch_id: str, hours: int = EPOCH_HOURS) -> Epoch:
    """Parse `YYYY-MM-DDTHH-00-00`, refusing ids that are not on the grid or not written
    as ids are (strptime takes `2026-12-3T0-0-0`, other scripts' digits, a year `0001`
    that ids would write `1`: each would name one epoch under two ids)."""
    try:
        start = datetime.strptime(epoch_id, ID_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError) as exc:
        raise EpochError(f"not an epoch id (YYYY-MM-DDTHH-00-00): {epoch_id!r}") from exc
    if start.strftime(ID_FORMAT) != epoch_id:
        raise EpochError(
            f"{epoch_id!r} is not written as epoch ids are ({start.strftime(ID_FORMAT)})"
        )
    epoch = epoch_at(start, hours)
    if epoch.start != start:
        raise EpochError(f"{epoch_id} is not the start of a {hours}-hour epoch")
    return epoch


def epoch_id_text(epoch_id: object, function: str, current: str, at_instant: str = "") -> str:
    """`epoch_id` if it is a str, else a TypeError naming `function`'s argument, before any
    request: a datetime or an Epoch failed in json, or was looked up as given. `current`
    says where the current epoch's id is found; `at_instant`, if any, what to pass for the
    epoch at an instant instead of a datetime."""
    if isinstance(epoch_id, str):
        return epoch_id
    hint = ""
    if isinstance(epoch_id, datetime) and at_instant:
        hint = f" ({at_instant})"
    elif isinstance(epoch_id, Epoch):
        hint = " (pass its .id)"
    raise TypeError(
        f"{function}'s epoch_id is an epoch id, a str such as '2026-11-25T16-00-00' "
        f"({current} names the current one); got {a_type(epoch_id)}{hint}"
    )


def epoch_id_of(epoch_id: object, function: str, current: str, at_instant: str = "") -> str:
    """`epoch_id` as epoch_id_text takes it, and written as epoch ids are, else an
    EpochError (a ValueError) naming `function`'s argument: a typo would be read as an
    epoch without files, or one not planned yet. Any whole hour is taken, the grid being
    the publisher's (index.json's, the signer's EPOCH_HOURS)."""
    text = epoch_id_text(epoch_id, function, current, at_instant)
    try:
        epoch_from_id(text, hours=1)
    except EpochError:
        raise EpochError(
            f"{function}'s epoch_id {text!r} is not an epoch id: YYYY-MM-DDTHH-00-00, as "
            f"{current} names one"
        ) from None
    return text


def epochs_between(first: Epoch, last_start: datetime) -> Iterator[Epoch]:
    """`first` and every following epoch that starts before `last_start`."""
    epoch = first
    while epoch.start < last_start:
        yield epoch
        epoch = epoch.next()
