"""The current epoch's zipcodes, trusted only once they match the published commitment.

The plain file (`epochs/<epochId>.json`) is checked against the sha256 commitment that
index.json published before the epoch began. The sealed file needs no operator at all:
drand's signature for the reveal round opens it, and clientkit.verify checks the result
against the same commitment, so a miner can start the instant an epoch does.

A miner must start when its epoch does, so each function takes how long it may wait:
`timeout` (seconds a try of each read from the CDN) and `backoff` (the tries), as
clientkit.storage's reads do, and for the sealed file `relay_timeout` (seconds for each drand
relay's one try; the relays are asked in turn).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clientkit import chain, drand, layout, timelock, verify
from clientkit.epochs import Epoch, as_utc, epoch_id_of, parse_instant, quicknet_round
from clientkit.errors import ClientKitError, a_type
from clientkit.retry import Backoff

HeadFile = str | os.PathLike[str] | None
"""Where to keep the chain heads (`~` is the home): a path, or None for the default
(CLIENTKIT_HEAD_FILE, else under the user's cache dir: clientkit.chain.default_head_file)."""


class AssignmentError(ClientKitError):
    """No assignment that can be trusted: the message says which check failed and where."""


class NotRevealed(AssignmentError):
    """The plain file is not published yet (the sealed file may already open)."""


class NotOpenYet(AssignmentError):
    """The sealed file cannot be opened yet: its epoch has not started, or no relay has its
    drand round (out about 3 s after the start; or the relays are unreachable). Unlike the
    other AssignmentErrors, trying again shortly can succeed."""


@dataclass(frozen=True)
class Assignment:
    """An epoch's assignment exactly as committed: `body` hashes to `commitment`."""

    epoch_id: str
    body: bytes
    commitment: str
    via: str
    """"plain" (epochs/<epochId>.json) or "sealed" (opened with drand's signature)."""

    @property
    def document(self) -> dict[str, Any]:
        """The assignment's JSON (checked when the Assignment was made)."""
        return verify.assignment_document(self.body, self.epoch_id)

    @property
    def zipcodes(self) -> list[str]:
        return [item["zipcode"] for item in self.document["zipcodes"]]


def _index(source: verify.HttpSource, head_file: HeadFile) -> dict[str, layout.IndexEntry]:
    """The entries, once index.json extends the chain head pinned in `head_file`."""
    pin = chain.HeadPin(head_file)
    try:
        items = layout.published_index_items(source)
        if items is None:
            raise AssignmentError(f"no index.json at {source.describe()}")
        entries = layout.index_entries(items, source)
        pin.check(source.describe(), items)
    except (layout.IndexUnreadable, layout.SourceError, chain.ChainBroken) as exc:
        raise AssignmentError(str(exc)) from exc
    if not entries:
        raise AssignmentError(f"index.json at {source.describe()} lists no epoch")
    return entries


def _moment(now: object, function: str) -> datetime:
    """`now` as an aware UTC datetime (a naive one taken as UTC), else the current time; any
    other value is a TypeError naming `function`'s argument, and an epoch id given for it
    (current_assignment's second argument is `now`, plain_assignment's `epoch_id`) says to
    pass it as epoch_id=."""
    if now is None:
        return datetime.now(UTC)
    if not isinstance(now, datetime):
        hint = f": an epoch id is passed as epoch_id={now!r}" if _is_epoch_id(now) else ""
        raise TypeError(
            f"{function}'s now is the instant whose running epoch is wanted, a datetime; got "
            f"{a_type(now)} {now!r}{hint}"
        )
    return as_utc(now)


def _is_epoch_id(value: object) -> bool:
    try:
        epoch_id_of(value, "", "")
    except (TypeError, ValueError):
        return False
    return True


def _epoch_id(epoch_id: object, function: str) -> None:
    """A TypeError or an EpochError (a ValueError), before any request, unless `epoch_id` is
    None or written as epoch ids are: looked up in index.json as given, a datetime or a typo
    read as an epoch the CDN does not list, as one not planned yet does."""
    if epoch_id is not None:
        epoch_id_of(
            epoch_id,
            function,
            "a signer's answer's 'epoch_id'",
            "for the epoch running at an instant, pass now=",
        )


def _entry(
    source: verify.HttpSource, epoch_id: str | None, now: datetime, head_file: HeadFile
) -> layout.IndexEntry:
    """The named epoch, or the one running at `now` by the index's own start and end
    (reading the index refused any not written as the planner writes them)."""
    entries = _index(source, head_file)
    if epoch_id is not None:
        if epoch_id not in entries:
            raise AssignmentError(f"index.json at {source.describe()} lists no epoch {epoch_id}")
        return entries[epoch_id]
    for entry in entries.values():
        if parse_instant(entry.epoch_start) <= now < parse_instant(entry.epoch_end):
            return entry
    raise AssignmentError(
        f"index.json at {source.describe()} lists no epoch running at "
        f"{now:%Y-%m-%dT%H:%M:%SZ} (not planned yet, or a clock is wrong)"
    )


def plain_assignment(
    base_url: str,
    epoch_id: str | None = None,
    now: datetime | None = None,
    head_file: HeadFile = None,
    *,
    timeout: float = verify.TIMEOUT,
    backoff: Backoff | None = None,
) -> Assignment:
    """The revealed JSON of an epoch (default: the one running now), checked by its hash.

    `head_file` keeps the last index.json chain head seen (HistoryRewritten on a rewrite).
    A naive `now` is taken as UTC. Each read from the CDN waits `timeout` seconds a try,
    the tries as `backoff` says. `base_url` must be an http(s) URL with a host (a
    ValueError naming it otherwise, before any request).
    """
    _epoch_id(epoch_id, "plain_assignment")
    source = verify.HttpSource(base_url, timeout, backoff)
    entry = _entry(source, epoch_id, _moment(now, "plain_assignment"), head_file)
    key = layout.revealed_key(entry.epoch_id)
    opens = "the sealed file opens with drand's signature from the epoch start (sealed_assignment)"
    try:
        body = source.get(key)
    except layout.AccessDenied as exc:
        # S3 answers 403 for a file it does not have when nobody may list the bucket (AWS,
        # and the servers that copy it), and the plain file is asked for before it exists at
        # every epoch's start: the sealed file decides, its own 403 an AccessDenied.
        raise NotRevealed(
            f"{key} is not published at {source.describe()} yet, or not readable by anyone "
            f"(HTTP 403, which a bucket nobody may list answers for a missing file); {opens}"
        ) from exc
    except layout.SourceError as exc:
        raise AssignmentError(str(exc)) from exc
    if body is None:
        raise NotRevealed(f"{key} is not published at {source.describe()} yet; {opens}")
    digest = timelock.commitment(body)
    if digest != entry.commitment:
        raise AssignmentError(
            f"{key} at {source.describe()} hashes to {digest}, but index.json committed to "
            f"{entry.commitment}: do not use it"
        )
    try:
        verify.assignment_document(body, entry.epoch_id)
    except ValueError as exc:
        raise AssignmentError(f"{key} at {source.describe()}: {exc}: do not use it") from None
    return Assignment(entry.epoch_id, body, entry.commitment, "plain")


def sealed_assignment(
    base_url: str,
    epoch_id: str | None = None,
    now: datetime | None = None,
    relays: str | Sequence[str] = drand.DEFAULT_RELAYS,
    round_for: Callable[[Epoch], int] = quicknet_round,
    head_file: HeadFile = None,
    *,
    timeout: float = verify.TIMEOUT,
    backoff: Backoff | None = None,
    relay_timeout: float = drand.TIMEOUT,
) -> Assignment:
    """Open the sealed file with drand's signature and check it (clientkit.verify's checks).

    `relays` may be one URL. `round_for` maps an epoch to its drand round; leave it unset
    outside tests. Each read from the CDN waits `timeout` seconds a try, the tries as
    `backoff` says; each relay is asked once, waiting `relay_timeout` seconds, then the next.
    `base_url` and each relay must be http(s) URLs with a host: a ValueError naming the one
    that is not, before any request.
    """
    _epoch_id(epoch_id, "sealed_assignment")
    source = verify.HttpSource(base_url, timeout, backoff)
    relays = drand.relay_list(relays)
    drand.relay_seconds(relay_timeout, "relay_timeout")
    instant = _moment(now, "sealed_assignment")
    entry = _entry(source, epoch_id, instant, head_file)
    outcome = verify.verify_epoch(
        source, entry.epoch_id, instant, relays, round_for, relay_timeout=relay_timeout
    )
    if not outcome.usable or outcome.plaintext is None:
        failed = [c for c in outcome.checks if not c.ok]
        said = "; ".join(f"{c.name}: {c.detail}" for c in failed)
        problem = f"epoch {entry.epoch_id} at {source.describe()}: {said}"
        if any(c.name == "drand beacon" for c in failed):
            raise NotOpenYet(problem)
        raise AssignmentError(problem)
    return Assignment(entry.epoch_id, outcome.plaintext, entry.commitment, "sealed")


def current_assignment(
    base_url: str,
    now: datetime | None = None,
    relays: str | Sequence[str] = drand.DEFAULT_RELAYS,
    round_for: Callable[[Epoch], int] = quicknet_round,
    head_file: HeadFile = None,
    epoch_id: str | None = None,
    *,
    timeout: float = verify.TIMEOUT,
    backoff: Backoff | None = None,
    relay_timeout: float = drand.TIMEOUT,
) -> Assignment:
    """The running epoch's assignment (or `epoch_id`'s: that of a signer's grant, say, when
    the two clocks straddle an epoch's start): the plain file, or the sealed one until it
    is out. `timeout`, `backoff` and `relay_timeout` are as in sealed_assignment. The relays
    are checked first, as sealed_assignment checks them: a relay that is no URL, or a
    relay_timeout that is no number of seconds over 0, is refused now, not at the first
    epoch start that needs it."""
    _epoch_id(epoch_id, "current_assignment")
    _moment(now, "current_assignment")
    relays = drand.relay_list(relays)
    drand.relay_seconds(relay_timeout, "relay_timeout")
    try:
        return plain_assignment(
            base_url, epoch_id, now, head_file, timeout=timeout, backoff=backoff
        )
    except NotRevealed:
        return sealed_assignment(
            base_url,
            epoch_id,
            now,
            relays,
            round_for,
            head_file,
            timeout=timeout,
            backoff=backoff,
            relay_timeout=relay_timeout,
        )
