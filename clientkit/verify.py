"""Checking a published epoch the way a miner or validator can, trusting nobody.

The sealed file is opened with the drand signature of its round (so the operator could not
have changed it after sealing), its sha256 must equal the commitment published in
index.json, and the plain file must be the very same bytes.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from clientkit import chain, drand, layout, timelock
from clientkit.bounded import read_retryable
from clientkit.epochs import Epoch, as_utc, quicknet_round
from clientkit.failures import failure
from clientkit.layout import AccessDenied, Source, SourceError
from clientkit.retry import Backoff, checked
from clientkit.urls import http_url
from envsettings import shown

HistoryCheck = tuple[str, Callable[[list[dict[str, Any]]], str]]
"""A check of index.json's entries: the name its line shows, and a function of the entries
(as published) that says what it found, or raises chain.HistoryRewritten naming what changed."""


TIMEOUT = 10.0
"""Seconds a try of HttpSource waits for the connection, then for each piece of the answer
(`timeout=`; the tries are its `backoff`'s)."""
MAX_PUBLISHED_BYTES = 64 * 1024 * 1024
"""The largest published file read, decompressed: index.json grows about 1 MB a year of
4-hour epochs, an assignment is tens of KB; a server sending more (a compressed body that
inflates without end) is refused before it fills the reader's memory."""
CDN_EXAMPLE = "'https://subnet46-published.nyc3.cdn.digitaloceanspaces.com'"


class HttpSource:
    """Published files behind a base URL (the CDN), read-only; busy answers are retried.

    `base_url` must be an http(s) URL with a host (a ValueError naming it otherwise, before
    any request: clientkit.urls). Each read waits `timeout` seconds a try, the tries as
    `backoff` says (clientkit.retry's default policy if None), as clientkit.storage's reads
    do. Only a 404 is a file not published: a 403 is AccessDenied, so that a private Space
    or CDN is not read as one with nothing published."""

    def __init__(
        self, base_url: str, timeout: float = TIMEOUT, backoff: Backoff | None = None
    ) -> None:
        self.base_url = http_url(base_url, "the CDN base URL (base_url)", CDN_EXAMPLE)
        self.timeout, self.backoff = checked(timeout, backoff)
        self.session = requests.Session()

    def get(self, key: str) -> bytes | None:
        url, named = f"{self.base_url}/{key}", f"{self.describe()}/{key}"
        bodies: list[bytes | None] = []

        def attempt() -> requests.Response:
            # The body is read inside the try: a connection cut mid-body is tried again.
            response = self.session.get(url, timeout=self.timeout, stream=True)
            with response:
                if response.status_code == 200:
                    bodies.append(read_retryable(response, MAX_PUBLISHED_BYTES))
            return response

        try:
            status = self.backoff.run(attempt).status_code
        except requests.RequestException as exc:
            raise SourceError(f"cannot fetch {named}: {failure(exc, self.timeout, url)}") from exc
        if status == 404:
            return None
        if status == 403:
            raise AccessDenied(
                f"access denied: {named} answered HTTP 403: the published files must be "
                "readable by anyone (the Space's files public-read, its CDN serving them "
                "without credentials); a bucket that lets nobody list it also answers 403 "
                "for a file it does not have"
            )
        if status != 200:
            raise SourceError(f"cannot fetch {named}: HTTP {status}")
        body = bodies[-1]
        if body is None:
            raise SourceError(
                f"{named} is larger than {MAX_PUBLISHED_BYTES} bytes (decompressed): not read"
            )
        return body

    def describe(self) -> str:
        return shown(self.base_url)


@dataclass(frozen=True)
class Check:
    """One check; an `advisory` one that fails is the publisher's problem to report (planner
    verify), not a reason for a client to refuse a plaintext that opened and matched."""

    name: str
    ok: bool
    detail: str
    advisory: bool = False


@dataclass
class Outcome:
    epoch_id: str | None
    checks: list[Check] = field(default_factory=list)
    plaintext: bytes | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def usable(self) -> bool:
        """A plaintext every check but the advisory ones vouches for."""
        return self.plaintext is not None and all(c.ok or c.advisory for c in self.checks)

    @property
    def assignment(self) -> dict[str, Any] | None:
        return None if self.plaintext is None else json.loads(self.plaintext)

    def add(self, name: str, ok: bool, detail: str, advisory: bool = False) -> bool:
        self.checks.append(Check(name, ok, detail, advisory))
        return ok


def pick_epoch(entries: dict[str, layout.IndexEntry], now: datetime) -> str | None:
    """The epoch running at `now`, else the latest one that has started."""
    started = [k for k, e in entries.items() if e.epoch.start <= now]
    running = [k for k, e in entries.items() if e.epoch.start <= now < e.epoch.end]
    return running[0] if running else max(started, default=None)


def verify_epoch(
    source: Source,
    epoch_id: str | None,
    now: datetime,
    relays: str | Sequence[str] = drand.DEFAULT_RELAYS,
    round_for: Callable[[Epoch], int] = quicknet_round,
    fetch_signature: Callable[..., str] = drand.fetch_signature,
    check_current: bool = False,
    pin: chain.HeadPin | None = None,
    history: Sequence[HistoryCheck] = (),
    *,
    relay_timeout: float = drand.TIMEOUT,
) -> Outcome:
    """Every check a client can make of one epoch; stops at the first that makes the rest moot.

    With `check_current` (planner verify), current.json is checked too when the epoch is the
    running one. Each of `history` checks index.json against a history known elsewhere (a
    chain head the operator published, the planner's own record). With `pin`, index.json
    must also extend the chain head seen last time, and its head is pinned once the whole
    history checks. A naive `now` is taken as UTC; `relays` may be one URL, each an http(s)
    URL with a host (a ValueError naming it otherwise, before anything is read, as for a
    `relay_timeout` that is no number of seconds over 0).

    The published files are read as `source` reads them (an HttpSource's `timeout` and
    `backoff`). Each relay gets one try of `relay_timeout` seconds (for the connection, then
    for each piece of the answer), then the next is asked; `fetch_signature` is called as
    drand.fetch_signature is, with `timeout=relay_timeout`.
    """
    relay_urls = drand.relay_list(relays)
    drand.relay_seconds(relay_timeout, "relay_timeout")
    now = as_utc(now)
    outcome = Outcome(epoch_id)
    try:
        items = layout.read_index_items(source)
        entries = layout.index_entries(items, source)
    except (layout.IndexUnreadable, SourceError) as exc:
        outcome.add("index", False, str(exc))
        return outcome
    if not entries:
        outcome.add("index", False, f"no index.json at {source.describe()}")
        return outcome
    if epoch_id is None:
        epoch_id = outcome.epoch_id = pick_epoch(entries, now)
    if epoch_id is None or epoch_id not in entries:
        outcome.add("index", False, f"index.json lists no epoch {epoch_id or 'that has started'}")
        return outcome
    entry = entries[epoch_id]
    outcome.add("index", True, f"{epoch_id} listed with {entry.commitment}")
    if not _check_history(outcome, items, history, pin, source.describe()):
        return outcome

    expected = round_for(entry.epoch)
    if not outcome.add(
        "round",
        entry.reveal_round == expected,
        f"revealRound {entry.reveal_round}"
        + ("" if entry.reveal_round == expected else f", but the epoch start gives {expected}"),
    ):
        return outcome

    if now < entry.epoch.start:
        outcome.add(
            "drand beacon",
            False,
            f"round {entry.reveal_round} is out at the epoch's start, {entry.epoch_start}: "
            "the sealed file cannot open before (or this machine's clock is behind)",
        )
        return outcome
    read, sealed = _fetch(outcome, source, layout.sealed_key(epoch_id), "sealed file")
    if not read:
        return outcome
    outcome.add(
        "sealed file",
        sealed is not None,
        layout.sealed_key(epoch_id) + (" present" if sealed is not None else " is missing"),
    )
    if sealed is None:
        return outcome
    fetch = functools.partial(fetch_signature, timeout=relay_timeout)
    plaintext = _open_sealed(outcome, sealed, entry.reveal_round, relay_urls, fetch)
    if plaintext is None:
        return outcome
    digest = timelock.commitment(plaintext)
    if not outcome.add(
        "commitment",
        digest == entry.commitment,
        digest + (" matches" if digest == entry.commitment else f" != {entry.commitment}"),
    ):
        return outcome
    outcome.plaintext = plaintext
    try:
        document = assignment_document(plaintext, epoch_id)
        same_epoch = True
    except ValueError:
        document, same_epoch = {}, False
    outcome.add(
        "content",
        same_epoch,
        "epochId inside matches" if same_epoch else "not this epoch's assignment",
    )
    if entry.audit is not None and entry.audit.revealed:
        _check_audit(outcome, source, epoch_id, entry.audit, document)
    _check_revealed(outcome, source, entry, plaintext)
    if check_current and entry.epoch.start <= now < entry.epoch.end:
        _check_current(outcome, source, entries, epoch_id, plaintext)
    return outcome


def _check_revealed(
    outcome: Outcome, source: Source, entry: layout.IndexEntry, plaintext: bytes
) -> None:
    """The plain file, once published, is the sealed plaintext byte for byte. Its absence
    (or a failed read) is advisory: the plaintext already matched its commitment. Before
    index.json marks it revealed, a 403 is its absence, as plain_assignment reads it: S3
    answers 403 for a file it does not have when nobody may list the bucket."""
    read, revealed = _fetch(
        outcome,
        source,
        layout.revealed_key(entry.epoch_id),
        "revealed file",
        advisory=True,
        denied_is_absent=entry.revealed is False,
    )
    if not read:
        return
    if revealed is None:
        outcome.add(
            "revealed file",
            entry.revealed is False,
            "not published yet (drand reveal only)"
            if entry.revealed is False
            else "missing, though index.json marks it revealed (a CDN lagging or a file lost)",
            advisory=True,
        )
        return
    outcome.add(
        "revealed file",
        revealed == plaintext,
        "byte-identical to the sealed plaintext"
        if revealed == plaintext
        else "differs from the sealed plaintext",
    )


def _fetch(
    outcome: Outcome,
    source: Source,
    key: str,
    check: str,
    *,
    advisory: bool = False,
    denied_is_absent: bool = False,
) -> tuple[bool, bytes | None]:
    """Whether `key` could be read, and its bytes (None: not published; with
    `denied_is_absent`, an AccessDenied too). A read that fails (after the source's retries)
    is `check` failed, saying why, rather than an exception past verify_epoch: its caller
    gets every check it made."""
    try:
        return True, source.get(key)
    except SourceError as exc:
        if denied_is_absent and isinstance(exc, AccessDenied):
            return True, None
        outcome.add(check, False, str(exc), advisory=advisory)
        return False, None


def _open_sealed(
    outcome: Outcome,
    sealed: bytes,
    round_number: int,
    relays: list[str],
    fetch_signature: Callable[..., str],
) -> bytes | None:
    """The sealed file opened with the round's signature from the first relay whose
    signature opens it: a relay answering a wrong signature (broken, or lying) must not
    stop a client that another relay can serve. None, with the failed check, otherwise."""
    fetched: list[str] = []
    problems: list[str] = []
    for relay in relays:
        try:
            signature = fetch_signature(round_number, [relay])
        except drand.BeaconUnavailable as exc:
            problems.append(str(exc))
            continue
        fetched.append(relay)
        try:
            plaintext = timelock.unseal(sealed, signature)
        except timelock.SealError as exc:
            problems.append(f"{shown(relay)}'s signature: {exc}")
            continue
        outcome.add("drand beacon", True, f"round {round_number} signature from {shown(relay)}")
        outcome.add("decrypt", True, f"{len(plaintext)} bytes")
        return plaintext
    if not fetched:
        outcome.add("drand beacon", False, "; ".join(problems))
    else:
        outcome.add("drand beacon", True, f"round {round_number} signature fetched")
        outcome.add("decrypt", False, "; ".join(problems) + " (damaged file, or a wrong signature)")
    return None


def assignment_document(body: bytes, epoch_id: str) -> dict[str, Any]:
    """An assignment's JSON, as much as a client reads of it: an object naming `epoch_id`,
    with `zipcodes` a list of objects with a `zipcode` text. A ValueError otherwise, even
    for bytes that hash to the commitment (a forged index can commit to anything)."""
    document = layout.parse_json(body)
    if not isinstance(document, dict) or document.get("epochId") != epoch_id:
        raise ValueError(f"not epoch {epoch_id}'s assignment")
    layout.check_zipcodes(document)
    return document


def _check_history(
    outcome: Outcome,
    items: list[dict[str, Any]],
    history: Sequence[HistoryCheck],
    pin: chain.HeadPin | None,
    where: str,
) -> bool:
    """index.json's entries link, and are the history each check knows (see
    clientkit.chain); every check runs, so each change is named. The head file is checked
    last and the head pinned holding its lock (HeadPin.pin_after, as the assignment
    functions do), so a head another process pins meanwhile is checked, not written over;
    it is pinned only when all of them pass: a rewritten index is never pinned."""
    current: tuple[str, str] | None = None
    try:
        current = chain.head(items)
        detail = (
            "no entry carries prev yet" if current is None else f"head {current[0]} {current[1]}"
        )
        passed = outcome.add("chain", True, detail)
    except chain.ChainBroken as exc:
        passed = outcome.add("chain", False, str(exc))
    for name, check in history:
        passed = _history_check(outcome, name, check, items) and passed
    if pin is None:
        return passed
    head_file = functools.partial(pin.verify, where)
    return pin.pin_after(
        where, current, lambda: _history_check(outcome, "head file", head_file, items) and passed
    )


def _history_check(
    outcome: Outcome,
    name: str,
    check: Callable[[list[dict[str, Any]]], str],
    items: list[dict[str, Any]],
) -> bool:
    """One check's line: what it found, or what changed."""
    try:
        return outcome.add(name, True, check(items))
    except (chain.ChainBroken, chain.HistoryRewritten) as exc:
        return outcome.add(name, False, str(exc))


def _check_current(
    outcome: Outcome,
    source: Source,
    entries: dict[str, layout.IndexEntry],
    epoch_id: str,
    plaintext: bytes,
) -> None:
    """current.json must be the running epoch's committed bytes, or still those of the
    last epoch index.json marks revealed before it (the planner has not revealed the running
    one yet, or a CDN serves the new index.json with the old current.json). The planner
    writes current.json right after it marks an epoch revealed: an older epoch's bytes,
    past a later revealed one, were put back."""
    read, current = _fetch(outcome, source, layout.CURRENT_KEY, layout.CURRENT_KEY)
    if not read:
        return
    if current is None or current == plaintext:
        detail = "not published" if current is None else f"byte-identical to {epoch_id}'s"
        outcome.add(layout.CURRENT_KEY, True, detail)
        return
    try:
        named = json.loads(current).get("epochId")
    except (ValueError, AttributeError, RecursionError):
        named = None
    earlier = entries.get(named) if isinstance(named, str) and named < epoch_id else None
    if earlier is not None and timelock.commitment(current) == earlier.commitment:
        later = [k for k, e in entries.items() if named < k < epoch_id and e.revealed]
        if later:
            outcome.add(
                layout.CURRENT_KEY,
                False,
                f"is {named}'s, though index.json marks {later[-1]} revealed after it: it was "
                "put back to an older epoch",
            )
        else:
            outcome.add(
                layout.CURRENT_KEY, True, f"still {named}'s (not revealed by the planner yet)"
            )
    else:
        outcome.add(
            layout.CURRENT_KEY,
            False,
            f"is not {epoch_id}'s committed assignment, nor an earlier epoch's: it was replaced",
        )


def _check_audit(
    outcome: Outcome,
    source: Source,
    epoch_id: str,
    audit: layout.AuditEntry,
    document: dict[str, Any],
) -> None:
    """The validators' key revealed after the epoch: committed, and about this assignment.
    Its absence (or a failed read) is advisory, as the plain file's is: a miner needs no
    key, and the plaintext already matched its commitment."""
    read, body = _fetch(
        outcome, source, layout.audit_revealed_key(epoch_id), "audit key", advisory=True
    )
    if not read:
        return
    if body is None:
        outcome.add(
            "audit key",
            False,
            "missing, though index.json marks it revealed (a CDN lagging or a file lost)",
            advisory=True,
        )
        return
    if timelock.commitment(body) != audit.commitment:
        outcome.add("audit key", False, "its sha256 differs from its commitment")
        return
    try:
        key = json.loads(body)
        zips = {z["zipcode"] for z in document.get("zipcodes", [])}
        belongs = key["salt"] == document.get("salt") and set(key["auditZipcodes"]) <= zips
    except (ValueError, KeyError, TypeError, RecursionError):
        belongs = False
    outcome.add(
        "audit key",
        belongs,
        f"{len(key['auditZipcodes'])} audited zipcodes of this assignment"
        if belongs
        else "does not belong to this assignment",
    )
