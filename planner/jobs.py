"""The planner's jobs: plan (seal ahead), reveal (publish what has started), tick (both).

A library API with no I/O of its own beyond the two stores it is given, so the CLI, cron
and the tests drive exactly the same code.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import numpy as np

from clientkit import chain, layout, timelock
from clientkit.epochs import (
    ISO_FORMAT,
    Epoch,
    epoch_at,
    epoch_from_id,
    epochs_between,
    quicknet_round,
)
from planner import assignment, publish, seal, selection
from planner import state as state_io
from planner.dataset import Dataset, DatasetError, StatePriority
from planner.errors import PlannerError
from planner.state import Pending, PlannerState
from planner.store import LocalStore, Store, named

T = TypeVar("T")
Progress = Callable[[Iterable[T], int, str], AbstractContextManager[Iterable[T]]]


PARALLEL_FROM = 64
RESEAL_AHEAD = timedelta(days=1)
"""How far ahead each run checks that the sealed files of listed epochs are still intact."""


class PlanError(PlannerError):
    """A run that stopped before publishing anything it could not finish."""


class RevealRefused(PlannerError):
    """A bucket run whose --now is not the real clock: it would reveal an epoch that has not
    started, seal past epochs that would then never be sealed, or put current.json back."""


CLOCK_TOLERANCE = timedelta(minutes=5)
"""How far behind the real clock a bucket run's --now may reveal an earlier epoch (a run
started just before an epoch's start and finishing after it is not a rehearsal value)."""


PLANNING_ERRORS = (DatasetError, selection.SelectionError, PlanError)


def no_progress(items: Iterable[T], length: int, label: str) -> AbstractContextManager[Iterable[T]]:
    return nullcontext(items)


@dataclass
class Planner:
    """Everything a run needs, built once (by the CLI from settings, by tests directly)."""

    public: Store
    private: Store
    secret: bytes  # the master key (planner.keys.master_key of PLANNER_SECRET)
    config: selection.SelectionConfig = field(default_factory=selection.SelectionConfig)
    load_data: Callable[[], tuple[Dataset, list[StatePriority]]] | None = None
    horizon: timedelta = timedelta(days=7)
    epoch_hours: int = 4
    round_for: Callable[[Epoch], int] = quicknet_round
    progress: Progress = no_progress
    audit_count: int = 0
    legacy_state_key: bytes | None = field(default=None, repr=False)
    # The real clock, when the public store is a real bucket: no epoch that has not started
    # by it is revealed, whatever `now` says. None for a local folder or a rehearsal.
    real_clock: Callable[[], datetime] | None = None
    # A local published folder without index.json, while the private state records epochs
    # published: publish them again (every sealed file the state holds) instead of refusing.
    rebuild: bool = False


@dataclass
class PlanResult:
    sealed: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    horizon: str | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # why planning stopped (tick only; plan raises it)
    repairs: list[str] = field(default_factory=list)  # published files put back
    foreign: list[str] = field(default_factory=list)  # listed, never sealed by this planner


@dataclass
class RevealResult:
    revealed: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    current: str | None = None
    notes: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)  # published files put back


def _load_state(planner: Planner, index: dict[str, layout.IndexEntry]) -> PlannerState:
    _check_epoch_length(planner, index)
    loaded = state_io.load(planner.private, planner.secret, planner.legacy_state_key)
    if loaded is not None:
        _refuse_another_folder(planner, loaded, index)
        return loaded
    if any(not e.revealed for e in index.values()):
        private = planner.private
        setting = private.setting if isinstance(private, LocalStore) else None
        mistyped = f"is {setting} mistyped? If not, " if setting else ""
        raise PlanError(
            f"{named(planner.public)} lists sealed epochs that are not revealed yet, but "
            f"{state_io.described(private)} is missing: {mistyped}restore it (or point the "
            "planner at the bucket that holds it) before planning"
        )
    return PlannerState()


def _refuse_another_folder(
    planner: Planner, state: PlannerState, index: dict[str, layout.IndexEntry]
) -> None:
    """A local published folder with no index.json, while the private state records epochs
    published, is most likely a mistyped PLANNER_PUBLISHED (the state lives elsewhere, in
    PLANNER_STATE): restoring every entry there would publish into the wrong folder. A
    bucket holds its own state, so there index.json was lost, and is put back."""
    public = planner.public
    if index or not state.committed or planner.rebuild or not isinstance(public, LocalStore):
        return
    raise PlanError(
        f"{public.named()} has no {layout.INDEX_KEY}, but the private state "
        f"({state_io.STATE_KEY} in {named(planner.private)}) records "
        f"{len(state.committed)} epochs published, up to {max(state.committed)}: is "
        f"{public.setting or 'the published folder'} mistyped? Nothing was written. If the "
        "published files were lost, run once with --rebuild to publish again what the "
        "private state holds"
    )


def _check_epoch_length(planner: Planner, index: dict[str, layout.IndexEntry]) -> None:
    """A plan keeps the epoch length it was published with: the grids would overlap."""
    lengths = sorted({e.epoch.hours for e in index.values()} - {planner.epoch_hours})
    if lengths:
        raise PlanError(
            f"{planner.public.describe()} holds {lengths[0]}-hour epochs but EPOCH_HOURS is "
            f"{planner.epoch_hours}: set EPOCH_HOURS={lengths[0]} (a published plan keeps "
            "its epoch length; a new length needs a new bucket or folder)"
        )


def _aligned_history(pool: selection.Pool, history: dict[str, int]) -> np.ndarray:
    return np.array([history.get(z, -np.inf) for z in pool.zipcodes], dtype=np.float64)


def _zipcode_entries(dataset: Dataset, rows: np.ndarray) -> list[dict[str, object]]:
    """The assignment entry of each pool zipcode, built once per run."""
    return [
        assignment.Zipcode(
            zipcode=str(dataset.zipcode[r]),
            expected_listings=int(dataset.listings[r]),
            state=str(dataset.state[r]),
            city=str(dataset.city[r]),
            county=str(dataset.county[r]),
            market_tier=str(dataset.market_tier[r]),
        ).to_json()
        for r in rows.tolist()
    ]


def plan(planner: Planner, now: datetime, *, checked_writable: bool = False) -> PlanResult:
    """Seal every epoch from the current one to now + horizon that is not sealed yet.

    Sealed epochs are never recomputed, so new data or settings apply from the first epoch
    this run seals. The private state is saved before anything public is written, so a run
    killed midway is finished by the next one with the same plaintexts and commitments.
    The next run to load the state (a tick's reveal, right after) records the epochs
    index.json now lists (_record_listed), so a later removal is a loss, not a run stopped
    midway. `checked_writable`: the caller (tick) has checked every folder this run writes in.
    """
    if planner.load_data is None:
        raise PlanError("planning needs a zipcode file and a priority list")
    _refuse_another_clock(planner, now, sealing=True)
    # Read even when nothing needs sealing: a missing or broken file is found the day it
    # breaks, not days later when the horizon moves.
    dataset, priorities = planner.load_data()
    index = layout.read_index(planner.public)
    state = _load_state(planner, index)
    recorded = _record_listed(planner, state, index)
    record = _sealed_record(planner, state)
    restored, noted = _restore_index(planner, state, index, record, now)
    result = PlanResult(repairs=restored, notes=noted, foreign=_foreign(index, record))

    known = set(index) | set(state.pending)
    first = epoch_at(now, planner.epoch_hours)
    if known:
        first = max(first, epoch_from_id(max(known), planner.epoch_hours).next())
    todo = list(epochs_between(first, now + planner.horizon))

    if todo:
        if state.dataset_sha256 and state.dataset_sha256 != dataset.sha256 and known:
            result.notes.append(
                f"the zipcode file changed since the last plan: epochs up to {max(known)} "
                f"stay as sealed; the new data applies from {todo[0].id}"
            )
        if todo[0].start < now:
            result.notes.append(
                f"{todo[0].id} has already started: its commitment is published late "
                "(first run, or the planner was down)"
            )
    with seal.Sealer(parallel=len(todo) >= PARALLEL_FROM) as sealer:
        fresh: dict[str, Future[bytes]] = {}
        if todo:
            fresh, notes = _select_epochs(planner, dataset, priorities, state, todo, now, sealer)
            result.sealed = [e.id for e in todo]
            result.notes += notes
        ciphertexts = _seal_unlisted(planner, state, index, sealer, fresh)
        resealed, repairs = _reseal_lost(planner, state, index, now, sealer)
    result.repairs += repairs
    if todo or ciphertexts or recorded or resealed:
        if not checked_writable:
            _check_writable(planner, [*ciphertexts, *resealed, layout.INDEX_KEY, layout.SCHEMA_KEY])
        state_io.save(planner.private, state, planner.secret)
    for key, ciphertext in sorted(ciphertexts.items()):
        if publish.put_immutable(planner.public, key, ciphertext, publish.OCTETS):
            result.written.append(key)
    for key, ciphertext in sorted(resealed.items()):
        planner.public.put(
            key, ciphertext, content_type=publish.OCTETS, cache_control=publish.IMMUTABLE
        )
        result.written.append(key)
    earlier = [k for k in _list_pending(planner, state, index) if k not in result.sealed]
    if earlier:
        result.notes.append(
            f"listed {len(earlier)} epoch(s) sealed by an earlier run that stopped before "
            f"listing them: {earlier[0]} .. {earlier[-1]}"
        )
    _write_pointers(planner, index, result.written, current=None)
    result.horizon = max(index) if index else None
    return result


def _sealed_parts(epoch_id: str, pending: Pending) -> list[tuple[str, bytes, int, str]]:
    """(key, plaintext, round, digest field) of each file sealed for an epoch."""
    parts = [(layout.sealed_key(epoch_id), pending.padded, pending.reveal_round, "sealed_sha256")]
    if pending.audit is not None and pending.audit_round is not None:
        parts.append(
            (layout.audit_sealed_key(epoch_id), pending.audit, pending.audit_round, "audit_sha256")
        )
    return parts


def _seal_unlisted(
    planner: Planner,
    state: PlannerState,
    index: dict[str, layout.IndexEntry],
    sealer: seal.Sealer,
    fresh: dict[str, Future[bytes]],
) -> dict[str, bytes]:
    """The sealed files to upload, by key, for the pending epochs index.json does not list.

    Each ciphertext's sha256 is recorded in the state before it is uploaded. A sealed file
    already in the store (left by a run killed before it wrote index.json) is kept only if
    it has the recorded digest, so a foreign file is never adopted.
    """
    for epoch_id in set(index) & set(state.pending):
        if index[epoch_id].commitment != timelock.commitment(state.pending[epoch_id].padded):
            raise publish.PublishConflict(
                f"{epoch_id}: the private state does not match the published commitment; "
                "refusing to publish (is this the right bucket and secret?)"
            )
    sealing = dict(fresh)
    owners: dict[str, tuple[str, str]] = {}
    for epoch_id in sorted(k for k in state.pending if k not in index):
        pending = state.pending[epoch_id]
        for key, plaintext, round_number, digest_field in _sealed_parts(epoch_id, pending):
            owners[key] = (epoch_id, digest_field)
            if key in sealing:
                continue
            existing = planner.public.get(key)
            if existing is None:
                sealing[key] = sealer.submit(plaintext, round_number)
            elif hashlib.sha256(existing).hexdigest() != getattr(pending, digest_field):
                raise publish.PublishConflict(
                    f"{key} in {planner.public.describe()} is not the file this planner "
                    "sealed; nothing was overwritten"
                )
    ciphertexts: dict[str, bytes] = {}
    with planner.progress(sorted(sealing), len(sealing), "sealing") as keys:
        for key in keys:
            ciphertext = sealing[key].result()
            _record_digest(state, *owners[key], ciphertext)
            ciphertexts[key] = ciphertext
    return ciphertexts


def _record_digest(state: PlannerState, epoch_id: str, digest_field: str, data: bytes) -> None:
    """Record in the state the sha256 of a sealed file about to be uploaded."""
    digest = hashlib.sha256(data).hexdigest()
    pending = state.pending[epoch_id]
    state.pending[epoch_id] = (
        replace(pending, sealed_sha256=digest)
        if digest_field == "sealed_sha256"
        else replace(pending, audit_sha256=digest)
    )


def _reseal_lost(
    planner: Planner,
    state: PlannerState,
    index: dict[str, layout.IndexEntry],
    now: datetime,
    sealer: seal.Sealer,
) -> tuple[dict[str, bytes], list[str]]:
    """Sealed files of the listed epochs not ended and starting within RESEAL_AHEAD that are
    missing or not the file this planner sealed (the sha256 the state recorded): sealed
    again, to be written over them, and what was repaired, for people. A miner opening such
    a file at its epoch's start would get an error instead of the assignment. Further epochs
    are checked as they come within reach, one GET per file and run; with
    `planner.rebuild`, every one. The running epoch's is checked too: the state keeps its
    plaintext until it ends, so a lost folder gets it back."""
    resealed: dict[str, bytes] = {}
    repairs: list[str] = []
    for epoch_id in sorted(set(index) & set(state.pending)):
        epoch = epoch_from_id(epoch_id, planner.epoch_hours)
        if epoch.end <= now or (epoch.start > now + RESEAL_AHEAD and not planner.rebuild):
            continue
        pending = state.pending[epoch_id]
        for key, plaintext, round_number, digest_field in _sealed_parts(epoch_id, pending):
            found = planner.public.get(key)
            if found is not None and hashlib.sha256(found).hexdigest() == getattr(
                pending, digest_field
            ):
                continue
            ciphertext = sealer.submit(plaintext, round_number).result()
            _record_digest(state, epoch_id, digest_field, ciphertext)
            resealed[key] = ciphertext
            what = "missing" if found is None else "not the file this planner sealed"
            repairs.append(f"{key} was {what}; it is sealed again and written")
    return resealed, repairs


def _entry_of(planner: Planner, epoch_id: str, pending: Pending) -> layout.IndexEntry:
    """The index.json entry of a sealed epoch, not revealed yet."""
    epoch = epoch_from_id(epoch_id, planner.epoch_hours)
    return layout.IndexEntry(
        epoch_id=epoch_id,
        epoch_start=epoch.start_iso,
        epoch_end=epoch.end_iso,
        reveal_round=pending.reveal_round,
        commitment=timelock.commitment(pending.padded),
        revealed=False,
        sealed_at=pending.sealed_at,
        audit=None
        if pending.audit is None or pending.audit_round is None
        else layout.AuditEntry(pending.audit_round, timelock.commitment(pending.audit)),
    )


def _list_pending(
    planner: Planner, state: PlannerState, index: dict[str, layout.IndexEntry]
) -> list[str]:
    """Add an index entry for every pending epoch whose sealed file is now published; the
    epochs listed, in order."""
    listed = sorted(k for k in state.pending if k not in index)
    for epoch_id in listed:
        index[epoch_id] = _entry_of(planner, epoch_id, state.pending[epoch_id])
    return listed


def _sealed_part(entry: layout.IndexEntry) -> layout.IndexEntry:
    """An entry without what changes after sealing (whether it is revealed yet)."""
    return replace(
        entry, revealed=False, audit=entry.audit and replace(entry.audit, revealed=False)
    )


def _record_listed(
    planner: Planner, state: PlannerState, index: dict[str, layout.IndexEntry]
) -> bool:
    """Record every pending epoch that index.json lists as committed (this planner's own
    entry, not the published one): from then on, its absence is a loss. True if any was new.

    A pending epoch index.json has never listed is not a loss: a run stopped between saving
    the state and listing it, and plan lists it as usual."""
    listed = {
        epoch_id: _entry_of(planner, epoch_id, pending).to_json()
        for epoch_id, pending in state.pending.items()
        if epoch_id in index and epoch_id not in state.committed
    }
    state.committed.update(listed)
    return bool(listed)


def _sealed_record(planner: Planner, state: PlannerState) -> dict[str, layout.IndexEntry]:
    """The index.json entry of every epoch this planner sealed, by epoch id."""
    record = {k: _entry_of(planner, k, pending) for k, pending in state.pending.items()}
    record.update((k, layout.IndexEntry.from_json(item)) for k, item in state.committed.items())
    return record


def _changes(
    state: PlannerState,
    index: dict[str, layout.IndexEntry],
    record: dict[str, layout.IndexEntry],
) -> Iterator[tuple[str, layout.IndexEntry, layout.IndexEntry | None]]:
    """(epoch id, entry sealed, entry published or None) of every entry this planner
    sealed (`record`, _sealed_record) and listed that index.json has lost or has rewritten
    (another commitment, round or sealing time); a pending epoch never listed yet is left
    to plan (_record_listed)."""
    for epoch_id, sealed in sorted(record.items()):
        found = index.get(epoch_id)
        if found is None and epoch_id not in state.committed:
            continue
        if found is None or _sealed_part(found) != _sealed_part(sealed):
            yield epoch_id, sealed, found


def _restore_index(
    planner: Planner,
    state: PlannerState,
    index: dict[str, layout.IndexEntry],
    record: dict[str, layout.IndexEntry],
    now: datetime,
) -> tuple[list[str], list[str]]:
    """Put back every entry of an epoch this planner sealed (`record`) that index.json lost
    or had rewritten; what was repaired, and notes on the started epochs put back
    unrevealed that the state no longer holds, for people.

    Those notes are given once, by the run that puts the entries back (a `--rebuild`, or
    the tick that finds a bucket's index.json lost): nothing about those epochs can change
    afterwards, and a note repeated by every tick would fill a cron log for the rest of
    the plan. `planner status` shows them lost, `planner verify` names the missing file."""
    repairs = []
    unrevealed = []
    for epoch_id, sealed, found in list(_changes(state, index, record)):
        if found is None:
            revealed = planner.public.get(layout.revealed_key(epoch_id)) is not None
            index[epoch_id] = replace(sealed, revealed=revealed)
            repairs.append(f"index.json had lost the entry of {epoch_id}; it is restored")
            started = epoch_from_id(epoch_id, planner.epoch_hours).start <= now
            if started and not revealed and epoch_id not in state.pending:
                unrevealed.append(epoch_id)
        else:
            audit_revealed = bool(found.audit and found.audit.revealed)
            index[epoch_id] = replace(
                sealed,
                revealed=found.revealed,
                audit=sealed.audit and replace(sealed.audit, revealed=audit_revealed),
            )
            repairs.append(
                f"index.json's entry of {epoch_id} had been rewritten (commitment "
                f"{found.commitment}); the one this planner sealed ({sealed.commitment}) is "
                "restored"
            )
    if not unrevealed:
        return repairs, []
    return repairs, _unrevealable(planner, unrevealed, epoch_at(now, planner.epoch_hours))


def check_history(planner: Planner, items: list[dict[str, Any]]) -> str:
    """Compare index.json's entries, as published, with what this planner sealed (its
    private state, only read): chain.HistoryRewritten naming every entry removed,
    rewritten, or listed though this planner never sealed it; else what was compared.

    Unlike a pinned chain head, this needs no earlier run: it catches a rewritten history
    (a consistent chain rebuilt around an epoch re-sealed to its round, an edited or
    removed newest entry) the first time it runs. Entries older than the state's record
    (sealed before the state kept one) are not judged."""
    blob = planner.private.get(state_io.STATE_KEY)
    if blob is None:
        raise PlanError(
            f"there is no private state ({state_io.STATE_KEY} in "
            f"{planner.private.describe()}) to compare index.json with: point the planner "
            "at the bucket that holds it (SPACES_*), or unset PLANNER_SECRET to verify as a "
            "miner does"
        )
    state = state_io.decrypt(
        blob, planner.secret, planner.legacy_state_key, state_io.described(planner.private)
    )
    index = {e.epoch_id: e for e in map(layout.IndexEntry.from_json, items)}
    sealed_with = replace(planner, epoch_hours=_sealed_length(planner, state, index))
    record = _sealed_record(sealed_with, state)
    problems = [_change_text(*change) for change in _changes(state, index, record)]
    problems += [
        f"index.json lists {epoch_id}, which this planner never sealed"
        for epoch_id in _foreign(index, record)
    ]
    where = f"its private state in {planner.private.describe()}"
    if problems:
        raise chain.HistoryRewritten(
            f"index.json differs from what this planner sealed ({where}): " + "; ".join(problems)
        )
    listed = sum(1 for epoch_id in record if epoch_id in index)
    return f"the {listed} entries this planner sealed are listed unchanged ({where})"


def _sealed_length(
    planner: Planner, state: PlannerState, index: dict[str, layout.IndexEntry]
) -> int:
    """The epoch length this planner sealed with: that of the entries its state recorded,
    else the one index.json lists, else EPOCH_HOURS. `verify` reads any length without
    being told it, and the machine it runs on may not set EPOCH_HOURS as the job does."""
    recorded = map(layout.IndexEntry.from_json, state.committed.values())
    for entries in (recorded, index.values()):
        lengths = {entry.epoch.hours for entry in entries}
        if len(lengths) == 1:
            return lengths.pop()
    return planner.epoch_hours


def _foreign(index: dict[str, Any], record: dict[str, layout.IndexEntry]) -> list[str]:
    """The epochs index.json lists, after the first this planner recorded, that it never
    sealed: someone else's entries. They are reported, never removed: an older copy of the
    private state put back would make the planner's own later entries look like these."""
    first = min(record, default=None)
    return [e for e in sorted(index) if first is not None and e > first and e not in record]


def _change_text(epoch_id: str, sealed: layout.IndexEntry, found: layout.IndexEntry | None) -> str:
    if found is None:
        return f"the entry of {epoch_id} was removed"
    was, now = _fields(_sealed_part(sealed).to_json()), _fields(_sealed_part(found).to_json())
    changed = ", ".join(
        f"{name} {now.get(name)} where this planner sealed {was.get(name)}"
        for name in [*was, *(n for n in now if n not in was)]
        if now.get(name) != was.get(name)
    )
    return f"the entry of {epoch_id} was rewritten ({changed})"


def _fields(item: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """An entry's fields by dotted name (`audit.commitment`), for naming what changed."""
    flat: dict[str, Any] = {}
    for name, value in item.items():
        if isinstance(value, dict):
            flat.update(_fields(value, f"{prefix}{name}."))
        else:
            flat[prefix + name] = value
    return flat


def _document(
    epoch: Epoch,
    zipcodes: list[dict[str, Any]],
    secret: bytes,
    config: selection.SelectionConfig,
    dataset: Dataset,
) -> dict[str, Any]:
    return assignment.build(
        epoch,
        zipcodes,
        secret,
        target_listings=config.target_listings,
        tolerance_percent=config.tolerance_percent,
        algorithm_version=selection.ALGORITHM_VERSION,
        dataset_sha256=dataset.sha256,
    )


def choose(
    dataset: Dataset,
    priorities: list[StatePriority],
    config: selection.SelectionConfig,
    secret: bytes,
    history: dict[str, int],
    epochs: Iterable[Epoch],
) -> Iterator[tuple[Epoch, dict[str, Any]]]:
    """Each epoch's assignment, in order: each depends on the history the last one left.

    `history` (zipcode -> unix start of its latest epoch) is updated as epochs are chosen;
    pass a copy to simulate without consequences (planner preview).
    """
    pool = selection.build_pool(dataset, priorities, config)
    if len(pool) == 0:
        raise PlanError(
            "no eligible zipcodes: none of the priority states has a zipcode with listings "
            f"between {config.min_listings} and {config.max_listings}"
        )
    entries = _zipcode_entries(dataset, pool.rows)
    last = _aligned_history(pool, history)
    phase = selection.phases(secret, pool.zipcodes)
    for epoch in epochs:
        start = epoch.start.timestamp()
        try:
            picked = selection.select(
                pool,
                last,
                start,
                selection.epoch_seed(secret, epoch.id),
                config,
                phase,
                (epoch.end - epoch.start).total_seconds(),
            )
        except selection.SelectionError as exc:
            raise PlanError(f"epoch {epoch.id}: {exc}; nothing was sealed") from exc
        last[picked] = start
        history.update(dict.fromkeys(pool.zipcodes[picked].tolist(), int(start)))
        by_priority = picked[np.lexsort((picked, pool.state_index[picked]))]
        yield (
            epoch,
            _document(epoch, [entries[i] for i in by_priority.tolist()], secret, config, dataset),
        )


def _select_epochs(
    planner: Planner,
    dataset: Dataset,
    priorities: list[StatePriority],
    state: PlannerState,
    todo: list[Epoch],
    now: datetime,
    sealer: seal.Sealer,
) -> tuple[dict[str, Future[bytes]], list[str]]:
    """Choose the epochs' zipcodes and seal them, every one padded to the state's size;
    the sealing futures by key, and notes for people.

    Each epoch is sealed as soon as it is chosen, so sealing overlaps selection, except
    while there is no size yet (a folder's first plan): the first coverage window's epochs
    are chosen, then the size is set from the longest (assignment.padded_size) and they
    are sealed. An assignment longer than the size grows it (the one way it changes), and
    the epochs of this run already submitted are sealed again at the new size: nothing is
    published before every future is done, so the epochs of a run share one size.
    """
    sealing: dict[str, Future[bytes]] = {}
    run: list[tuple[Epoch, dict[str, Any], bytes]] = []
    submitted = 0  # the epochs of `run` sealing at the current size
    was = state.padded_size
    # Enough epochs for their lengths to vary as a plan's do, few enough that a long first
    # plan (a year: 2,190) still seals while it chooses.
    window = min(len(todo), math.ceil(planner.config.coverage_days * 24 / planner.epoch_hours))
    with planner.progress(todo, len(todo), "selecting") as epochs:
        chosen = choose(
            dataset, priorities, planner.config, planner.secret, state.last_assigned, epochs
        )
        for epoch, document in chosen:
            run.append((epoch, document, assignment.to_bytes(document)))
            if state.padded_size is None and len(run) < window:
                continue
            longest = max(len(plaintext) for _, _, plaintext in run[submitted:])
            if state.padded_size is None or longest > state.padded_size:
                state.padded_size, submitted = assignment.padded_size(longest), 0
            for item in run[submitted:]:
                pending = _pending(planner, *item, state.padded_size, now)
                state.pending[item[0].id] = pending
                _submit(sealer, sealing, item[0].id, pending)
            submitted = len(run)
    state.dataset_sha256 = dataset.sha256
    notes = []
    if was is not None and state.padded_size != was:
        notes.append(
            f"assignments are now padded to {state.padded_size:,} bytes (were {was:,}): an "
            "epoch of this run is longer than the size allowed"
        )
    return sealing, notes


def _pending(
    planner: Planner,
    epoch: Epoch,
    document: dict[str, Any],
    plaintext: bytes,
    size: int,
    now: datetime,
) -> Pending:
    """A sealed epoch to remember: its assignment, the size it is padded to and, if asked,
    the audit key, which names the padded assignment's commitment. An audit of as many
    zipcodes as the epoch has, or more, is refused: it would list them all, no sample."""
    pending = Pending(
        plaintext=plaintext,
        reveal_round=planner.round_for(epoch),
        sealed_at=now.strftime(ISO_FORMAT),
        padded_size=size,
    )
    if not planner.audit_count:
        return pending
    check_audit_count(epoch, document, planner.audit_count)
    key = assignment.audit(
        document, planner.secret, planner.audit_count, timelock.commitment(pending.padded)
    )
    return replace(
        pending, audit=assignment.to_bytes(key), audit_round=planner.round_for(epoch.next())
    )


def check_audit_count(epoch: Epoch, document: dict[str, Any], audit_count: int) -> None:
    """Refuse an audit of as many zipcodes as the epoch has, or more (plan, and the
    simulations of check and preview): it would list them all, no sample."""
    zipcodes = len(document["zipcodes"])
    if audit_count and audit_count >= zipcodes:
        raise PlanError(
            f"epoch {epoch.id} has {zipcodes} zipcodes, and PLANNER_AUDIT_ZIPCODES is "
            f"{audit_count}: all of them would be audited, when audit zipcodes are a "
            "secret sample of each epoch's (docs/planner.md#audit-zipcodes); set it below "
            f"{zipcodes}, or 0 to turn audits off; nothing was sealed"
        )


def _submit(
    sealer: seal.Sealer, sealing: dict[str, Future[bytes]], epoch_id: str, pending: Pending
) -> None:
    """Start sealing an epoch's files; one sealed before at another size is dropped."""
    for key, part, round_number, _ in _sealed_parts(epoch_id, pending):
        if key in sealing:
            sealing[key].cancel()
        sealing[key] = sealer.submit(part, round_number)


def reveal(planner: Planner, now: datetime, *, checked_writable: bool = False) -> RevealResult:
    """Publish the plain assignment of every sealed epoch that has started (again, if it
    was removed before the epoch ended), and the validators' key of every audited epoch
    that has ended. `checked_writable`: the caller (tick) has checked every folder this run
    writes in."""
    _refuse_another_clock(planner, now)
    index = layout.read_index(planner.public)
    state = _load_state(planner, index)
    recorded = _record_listed(planner, state, index)
    restored, noted = _restore_index(planner, state, index, _sealed_record(planner, state), now)
    result = RevealResult(repairs=restored, notes=noted)
    due = [k for k in state.pending if epoch_from_id(k, planner.epoch_hours).start <= now]
    if due and not checked_writable:
        _check_writable(
            planner,
            [layout.revealed_key(k) for k in due]
            + [layout.audit_revealed_key(k) for k in due]
            + [layout.INDEX_KEY, layout.CURRENT_KEY, layout.HTML_KEY],
        )
    done = []
    for epoch_id, pending in sorted(state.pending.items()):
        epoch = epoch_from_id(epoch_id, planner.epoch_hours)
        if epoch.start > now:
            continue
        entry = index.get(epoch_id)
        if entry is None or not entry.revealed:
            key = layout.revealed_key(epoch_id)
            if publish.put_immutable(planner.public, key, pending.padded, publish.JSON):
                result.written.append(key)
            result.revealed.append(epoch_id)
            entry = entry and replace(entry, revealed=True)
        elif planner.public.get(layout.revealed_key(epoch_id)) is None:
            # revealed by an earlier run and removed since, a 404 for every miner (other
            # bytes are left for _write_pointers to refuse)
            key = layout.revealed_key(epoch_id)
            planner.public.put(
                key, pending.padded, content_type=publish.JSON, cache_control=publish.IMMUTABLE
            )
            result.written.append(key)
            result.repairs.append(f"{key} was missing; it is written again")
        ended = epoch.end <= now
        if (
            ended
            and pending.audit is not None
            and not (entry and entry.audit and entry.audit.revealed)
        ):
            key = layout.audit_revealed_key(epoch_id)
            if publish.put_immutable(planner.public, key, pending.audit, publish.JSON):
                result.written.append(key)
            result.notes.append(f"revealed the validators' audit key of {epoch_id}")
            if entry and entry.audit:
                entry = replace(entry, audit=replace(entry.audit, revealed=True))
        if entry is not None:
            index[epoch_id] = entry
        if ended:
            done.append(epoch_id)
    current = epoch_at(now, planner.epoch_hours)
    _write_pointers(planner, index, result.written, current=current)
    if index.get(current.id) and index[current.id].revealed:
        result.current = current.id
    for epoch_id in done:
        state.committed.setdefault(
            epoch_id, _entry_of(planner, epoch_id, state.pending.pop(epoch_id)).to_json()
        )
    if done or recorded:
        state_io.save(planner.private, state, planner.secret)
    return result


def _unrevealable(planner: Planner, missing: list[str], current: Epoch) -> list[str]:
    """What becomes of the started epochs put back in index.json unrevealed that the state
    no longer holds: drand reveals those whose sealed file is published; the others (a lost
    folder rebuilt) are gone for good, and if the running epoch is one, miners have none."""
    folder = layout.sealed_key("").rpartition("/")[0] + "/"  # one listing, not a GET each
    sealed = set(planner.public.keys(folder))
    drand = [e for e in missing if layout.sealed_key(e) in sealed]
    lost = [e for e in missing if e not in drand]
    notes = []
    if drand:
        notes.append(
            "sealed but not in the private state, so left for drand to reveal: " + ", ".join(drand)
        )
    if lost:
        note = (
            "sealed and plain files lost, and no longer in the private state, so they cannot "
            f"be published again (index.json lists them unrevealed): {', '.join(lost)}"
        )
        if current.id in lost:
            note += (
                f"; {current.id} is the running epoch: miners have no assignment until "
                f"{current.next().id} starts ({current.next().start_iso})"
            )
        notes.append(note)
    return notes


def _refuse_another_clock(planner: Planner, now: datetime, sealing: bool = False) -> None:
    """Stop before anything is written if `now` is not the real clock's, against a real
    bucket (a leftover PLANNER_NOW from a rehearsal). Ahead of it, a reveal would give away
    an epoch before its start, and a plan would seal from a later epoch on, leaving the ones
    between unsealed for good (index.json only grows at its end); behind it, a reveal would
    put current.json back to an earlier epoch (a plan behind it only seals what a plan at
    the real clock would, or commits late to epochs begun: nothing to refuse)."""
    if planner.real_clock is None:
        return
    real = planner.real_clock()
    current = epoch_at(now, planner.epoch_hours)
    fix = (
        "Unset PLANNER_NOW, or publish a rehearsal to a local folder (unset SPACES_BUCKET) "
        "or with --rehearsal if this bucket is one"
    )
    said = f"refusing to publish: --now/PLANNER_NOW is {now.strftime(ISO_FORMAT)}"
    if current.start > real:
        harm = (
            f"seal from {current.id} on, and the epochs before it could never be sealed"
            if sealing
            else f"reveal {current.id}, which starts at {current.start_iso}, before its start"
        )
        raise RevealRefused(
            f"{said}, after the real clock ({real.strftime(ISO_FORMAT)}): this run would "
            f"{harm} in {planner.public.describe()}. {fix}"
        )
    if not sealing and current.start < epoch_at(real - CLOCK_TOLERANCE, planner.epoch_hours).start:
        raise RevealRefused(
            f"{said}, behind the real clock ({real.strftime(ISO_FORMAT)}): this run would put "
            f"current.json in {planner.public.describe()} back to {current.id}. {fix}"
        )


def _check_writable(planner: Planner, public_keys: list[str]) -> None:
    """Fail before the first write, not halfway: an unwritable folder (the top of a local
    --published, say) would otherwise leave some files and a rewritten state behind."""
    planner.public.check_writable(public_keys)
    planner.private.check_writable([state_io.STATE_KEY])


def _write_pointers(
    planner: Planner,
    index: dict[str, layout.IndexEntry],
    written: list[str],
    current: Epoch | None,
) -> None:
    """The schema, index.json, then (at reveal) current.json and index.html: pointers last."""
    if not index:
        return
    for key, data, kind, cache in (
        (layout.SCHEMA_KEY, assignment.schema_bytes(), publish.JSON, publish.SCHEMA_CACHE),
        (
            layout.INDEX_KEY,
            publish.index_bytes(index, planner.epoch_hours),
            publish.JSON,
            publish.SHORT,
        ),
    ):
        if publish.put_if_changed(planner.public, key, data, kind, cache):
            written.append(key)
    if current is None:
        return
    entry = index.get(current.id)
    tampered = None
    if entry is not None and entry.revealed:
        key = layout.revealed_key(current.id)
        body = planner.public.get(key)
        if body is not None and timelock.commitment(body) != entry.commitment:
            tampered = key
        elif body is not None and publish.put_if_changed(
            planner.public, layout.CURRENT_KEY, body, publish.JSON, publish.SHORT
        ):
            written.append(layout.CURRENT_KEY)
    page = publish.status_page(index, current, planner.epoch_hours, planner.public.get)
    if publish.put_if_changed(planner.public, layout.HTML_KEY, page, publish.HTML, publish.SHORT):
        written.append(layout.HTML_KEY)
    if tampered:
        raise publish.PublishConflict(
            f"{tampered} in {planner.public.describe()} is not the assignment committed in "
            f"index.json (its sha256 differs): it was changed after it was revealed, so "
            f"{layout.CURRENT_KEY} was not updated from it. Put the original back (drand "
            f"opens {layout.sealed_key(current.id)}: `planner verify {current.id}` shows it)"
        )


def rotate_secret(planner: Planner, new_secret: bytes) -> str | None:
    """Re-encrypt the private state under `new_secret`; epochs already sealed keep theirs.

    Returns the last sealed epoch (the last one the old secret can predict).
    """
    index = layout.read_index(planner.public)
    _check_epoch_length(planner, index)
    try:
        state = state_io.load(planner.private, planner.secret, planner.legacy_state_key)
    except state_io.StateError:
        if _opens_with(planner.private, new_secret):
            raise PlanError(
                f"{state_io.described(planner.private)} is already encrypted under "
                "PLANNER_NEW_SECRET: the rotation is done; now set PLANNER_SECRET to the new "
                "value wherever the planner runs"
            ) from None
        raise
    if state is None:
        raise PlanError(
            f"there is no private state ({state_io.STATE_KEY} in "
            f"{planner.private.describe()}) to rotate: point the planner at the bucket or "
            "folder that holds it (SPACES_*, PLANNER_STATE), or, before the first plan, just "
            "use the new secret"
        )
    state_io.save(planner.private, state, new_secret)
    return max(set(index) | set(state.pending), default=None)


def _opens_with(private: Store, master: bytes) -> bool:
    """Whether the state opens with `master`: a rotation run twice finds it rotated already."""
    blob = private.get(state_io.STATE_KEY)
    if blob is None:
        return False
    try:
        state_io.decrypt(blob, master)
    except state_io.StateError:
        return False
    return True


def tick(planner: Planner, now: datetime) -> tuple[PlanResult, RevealResult]:
    """What cron runs: seal ahead, then reveal what has started.

    Reveals never wait for planning: when the zipcode file is broken or the band cannot be
    filled, the epochs already sealed are still revealed and current.json still moves on;
    the planning error is in the PlanResult, for the caller to report and fail on. Every
    folder is checked once, here: its plan and reveal do not check theirs again (each check
    writes and removes a file in each folder).
    """
    _refuse_another_clock(planner, now)
    _check_writable(planner, TICK_KEYS)
    try:
        planned = plan(planner, now, checked_writable=True)
    except PLANNING_ERRORS as exc:
        sealed = layout.read_index(planner.public)  # what earlier runs sealed still holds
        planned = PlanResult(error=str(exc), horizon=max(sealed, default=None))
    return planned, reveal(planner, now, checked_writable=True)


# A key in each folder a tick may write: checked before its plan writes, since its reveal
# checking only its own keys afterwards said "nothing was written" after the plan had.
TICK_KEYS = [
    layout.sealed_key("probe"),
    layout.revealed_key("probe"),
    layout.audit_sealed_key("probe"),
    layout.SCHEMA_KEY,
    layout.INDEX_KEY,
    layout.CURRENT_KEY,
    layout.HTML_KEY,
]
