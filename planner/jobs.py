"""The planner's jobs: plan (seal ahead), reveal (publish what has started), tick (both).

A library API with no I/O of its own beyond the two stores it is given, so the CLI, cron
and the tests drive exactly the same code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import numpy as np

from clientkit import layout, timelock
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
from planner.dataset import Dataset, StatePriority
from planner.errors import PlannerError
from planner.state import Pending, PlannerState
from planner.store import Store

T = TypeVar("T")
Progress = Callable[[Iterable[T], int, str], AbstractContextManager[Iterable[T]]]


PARALLEL_FROM = 64


class PlanError(PlannerError):
    """A run that stopped before publishing anything it could not finish."""


def no_progress(items: Iterable[T], length: int, label: str) -> AbstractContextManager[Iterable[T]]:
    return nullcontext(items)


@dataclass
class Planner:
    """Everything a run needs, built once (by the CLI from settings, by tests directly)."""

    public: Store
    private: Store
    secret: bytes
    config: selection.SelectionConfig = field(default_factory=selection.SelectionConfig)
    load_data: Callable[[], tuple[Dataset, list[StatePriority]]] | None = None
    horizon: timedelta = timedelta(days=7)
    epoch_hours: int = 4
    round_for: Callable[[Epoch], int] = quicknet_round
    progress: Progress = no_progress
    audit_count: int = 0


@dataclass
class PlanResult:
    sealed: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    horizon: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class RevealResult:
    revealed: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    current: str | None = None
    notes: list[str] = field(default_factory=list)


def _load_state(planner: Planner, index: dict[str, layout.IndexEntry]) -> PlannerState:
    _check_epoch_length(planner, index)
    loaded = state_io.load(planner.private, planner.secret)
    if loaded is not None:
        return loaded
    if any(not e.revealed for e in index.values()):
        raise PlanError(
            f"{planner.public.describe()} lists sealed epochs that are not revealed yet, but "
            f"the private state ({state_io.STATE_KEY} in {planner.private.describe()}) is "
            "missing: "
            "restore it (or point the planner at the bucket that holds it) before planning"
        )
    return PlannerState()


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


def plan(planner: Planner, now: datetime) -> PlanResult:
    """Seal every epoch from the current one to now + horizon that is not sealed yet.

    Sealed epochs are never recomputed, so new data or settings apply from the first epoch
    this run seals. The private state is saved before anything public is written, so a run
    killed midway is finished by the next one with the same plaintexts and commitments.
    """
    if planner.load_data is None:
        raise PlanError("planning needs a zipcode file and a priority list")
    # Read even when nothing needs sealing: a missing or broken file is found the day it
    # breaks, not days later when the horizon moves.
    dataset, priorities = planner.load_data()
    index = layout.read_index(planner.public)
    state = _load_state(planner, index)
    result = PlanResult()

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
            fresh = _select_epochs(planner, dataset, priorities, state, todo, now, sealer)
            result.sealed = [e.id for e in todo]
        ciphertexts = _seal_unlisted(planner, state, index, sealer, fresh)
    if todo or ciphertexts:
        _check_writable(planner, [*ciphertexts, layout.INDEX_KEY, layout.SCHEMA_KEY])
        state_io.save(planner.private, state, planner.secret)
    for key, ciphertext in sorted(ciphertexts.items()):
        if publish.put_immutable(planner.public, key, ciphertext, publish.OCTETS):
            result.written.append(key)
    _list_pending(planner, state, index)
    _write_pointers(planner, index, result.written, current=None)
    result.horizon = max(index) if index else None
    return result


def _sealed_parts(epoch_id: str, pending: Pending) -> list[tuple[str, bytes, int, str]]:
    """(key, plaintext, round, digest field) of each file sealed for an epoch."""
    parts = [
        (layout.sealed_key(epoch_id), pending.plaintext, pending.reveal_round, "sealed_sha256")
    ]
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
        if index[epoch_id].commitment != timelock.commitment(state.pending[epoch_id].plaintext):
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
            epoch_id, digest_field = owners[key]
            digest = hashlib.sha256(ciphertext).hexdigest()
            pending = state.pending[epoch_id]
            state.pending[epoch_id] = (
                replace(pending, sealed_sha256=digest)
                if digest_field == "sealed_sha256"
                else replace(pending, audit_sha256=digest)
            )
            ciphertexts[key] = ciphertext
    return ciphertexts


def _list_pending(
    planner: Planner, state: PlannerState, index: dict[str, layout.IndexEntry]
) -> None:
    """Add an index entry for every pending epoch whose sealed file is now published."""
    for epoch_id in sorted(k for k in state.pending if k not in index):
        pending = state.pending[epoch_id]
        epoch = epoch_from_id(epoch_id, planner.epoch_hours)
        index[epoch_id] = layout.IndexEntry(
            epoch_id=epoch_id,
            epoch_start=epoch.start_iso,
            epoch_end=epoch.end_iso,
            reveal_round=pending.reveal_round,
            commitment=timelock.commitment(pending.plaintext),
            revealed=False,
            sealed_at=pending.sealed_at,
            audit=None
            if pending.audit is None or pending.audit_round is None
            else layout.AuditEntry(pending.audit_round, timelock.commitment(pending.audit)),
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
    for epoch in epochs:
        start = epoch.start.timestamp()
        try:
            picked = selection.select(
                pool, last, start, selection.epoch_seed(secret, epoch.id), config
            )
        except selection.SelectionError as exc:
            raise PlanError(f"epoch {epoch.id}: {exc}; nothing was sealed") from exc
        last[picked] = start
        history.update(dict.fromkeys(pool.zipcodes[picked].tolist(), int(start)))
        by_priority = picked[np.lexsort((picked, pool.state_index[picked]))]
        yield (
            epoch,
            assignment.build(
                epoch,
                [entries[i] for i in by_priority.tolist()],
                secret,
                target_listings=config.target_listings,
                tolerance_percent=config.tolerance_percent,
                algorithm_version=selection.ALGORITHM_VERSION,
                dataset_sha256=dataset.sha256,
            ),
        )


def _select_epochs(
    planner: Planner,
    dataset: Dataset,
    priorities: list[StatePriority],
    state: PlannerState,
    todo: list[Epoch],
    now: datetime,
    sealer: seal.Sealer,
) -> dict[str, Future[bytes]]:
    """Choose the epochs' zipcodes and start sealing each as soon as it is chosen."""
    sealing: dict[str, Future[bytes]] = {}
    with planner.progress(todo, len(todo), "selecting") as epochs:
        chosen = choose(
            dataset, priorities, planner.config, planner.secret, state.last_assigned, epochs
        )
        for epoch, document in chosen:
            plaintext = assignment.to_bytes(document)
            pending = Pending(
                plaintext=plaintext,
                reveal_round=planner.round_for(epoch),
                sealed_at=now.strftime(ISO_FORMAT),
            )
            if planner.audit_count:
                key = assignment.audit(
                    document, planner.secret, planner.audit_count, timelock.commitment(plaintext)
                )
                pending = replace(
                    pending,
                    audit=assignment.to_bytes(key),
                    audit_round=planner.round_for(epoch.next()),
                )
            state.pending[epoch.id] = pending
            for key_, part, round_number, _ in _sealed_parts(epoch.id, pending):
                sealing[key_] = sealer.submit(part, round_number)
    state.dataset_sha256 = dataset.sha256
    return sealing


def reveal(planner: Planner, now: datetime) -> RevealResult:
    """Publish the plain assignment of every sealed epoch that has started, and the
    validators' key of every audited epoch that has ended."""
    index = layout.read_index(planner.public)
    state = _load_state(planner, index)
    result = RevealResult()
    due = [k for k in state.pending if epoch_from_id(k, planner.epoch_hours).start <= now]
    if due:
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
            if publish.put_immutable(planner.public, key, pending.plaintext, publish.JSON):
                result.written.append(key)
            result.revealed.append(epoch_id)
            entry = entry and replace(entry, revealed=True)
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
        if pending.audit is None or ended:
            done.append(epoch_id)
    missing = [
        e.epoch_id
        for e in index.values()
        if not e.revealed and e.epoch.start <= now and e.epoch_id not in state.pending
    ]
    if missing:
        result.notes.append(
            "sealed but not in the private state, so left for drand to reveal: "
            + ", ".join(missing)
        )
    current = epoch_at(now, planner.epoch_hours)
    _write_pointers(planner, index, result.written, current=current)
    if index.get(current.id) and index[current.id].revealed:
        result.current = current.id
    if done:
        for epoch_id in done:
            del state.pending[epoch_id]
        state_io.save(planner.private, state, planner.secret)
    return result


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
    if entry is not None and entry.revealed:
        body = planner.public.get(layout.revealed_key(current.id))
        if body is not None and publish.put_if_changed(
            planner.public, layout.CURRENT_KEY, body, publish.JSON, publish.SHORT
        ):
            written.append(layout.CURRENT_KEY)
    page = publish.status_page(index, current, planner.epoch_hours, planner.public.get)
    if publish.put_if_changed(planner.public, layout.HTML_KEY, page, publish.HTML, publish.SHORT):
        written.append(layout.HTML_KEY)


def rotate_secret(planner: Planner, new_secret: bytes) -> str | None:
    """Re-encrypt the private state under `new_secret`; epochs already sealed keep theirs.

    Returns the last sealed epoch (the last one the old secret can predict).
    """
    index = layout.read_index(planner.public)
    state = _load_state(planner, index)
    state_io.save(planner.private, state, new_secret)
    return max(set(index) | set(state.pending), default=None)


def tick(planner: Planner, now: datetime) -> tuple[PlanResult, RevealResult]:
    """What cron runs: seal ahead, then reveal what has started."""
    return plan(planner, now), reveal(planner, now)
