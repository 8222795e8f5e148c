"""Salted, deterministic choice of each epoch's zipcodes.

How it works, in the terms an operator tunes:

1. Eligible zipcodes belong to a state on the priority list and have between
   `min_listings` and `max_listings` expected listings.
2. A zipcode assigned less than `cooldown_hours` before an epoch starts is not available.
3. The epoch's target is split between states in proportion to their weights (1/rank by
   default: with PA then NJ, PA gets 2/3 and NJ 1/3). A state whose available listings
   cannot fill its share gives the rest to the others, in the same proportions.
4. Coverage is a deadline, not a pull: a zipcode that would otherwise miss
   `coverage_days` (with one epoch to spare) is *due*, and due zipcodes are taken first,
   the longest-waiting first, whatever their state's share. A zipcode never assigned counts
   its wait from a point of a `coverage_days` cycle placed by the secret (its phase), so
   new zipcodes come due spread over one cycle, in an order nobody else knows.
5. Every other zipcode is drawn uniformly: keys from a stream keyed by HMAC(master key,
   epochId), taken in key order until the state's share is met, skipping any that would
   push the epoch over target + tolerance; a final pass tops up to the lower bound.

Why uniform: the history of revealed epochs is public, so any preference for zipcodes
that waited longer (the first version squared their staleness) lets anyone rank the next
epoch's zipcodes. A uniform draw gives public history nothing to rank but the due
zipcodes, and those are few when the deadline is long enough (the trade-off between the
deadline and what an attacker gains is measured in bench/RESULTS.md and docs/planner.md).

Everything is a pure function of (secret, data, configuration, history): the same inputs
give the same choice on every run and every machine.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from planner.dataset import Dataset, StatePriority, eligible_mask
from planner.errors import PlannerError

ALGORITHM_VERSION = "s46-select-v2"
GREEDY_CHUNK = 1024


class SelectionError(PlannerError, ValueError):
    """An epoch that cannot be filled inside the band, with the reason."""


@dataclass(frozen=True)
class SelectionConfig:
    target_listings: int = 10_000
    tolerance_percent: float = 10.0
    cooldown_hours: float = 24.0
    min_listings: int = 1
    max_listings: int = 1_000
    coverage_days: float = 7.0

    def __post_init__(self) -> None:
        if self.target_listings <= 0:
            raise SelectionError(
                f"PLANNER_TARGET_LISTINGS must be more than 0, got {self.target_listings}"
            )
        if not 0 <= self.tolerance_percent < 100:
            raise SelectionError(
                "PLANNER_TOLERANCE_PERCENT must be at least 0 and less than 100, "
                f"got {self.tolerance_percent:g}"
            )
        if self.cooldown_hours < 0:
            raise SelectionError(
                f"PLANNER_COOLDOWN_HOURS must not be negative, got {self.cooldown_hours:g}"
            )
        if self.min_listings < 0:
            raise SelectionError(
                f"PLANNER_MIN_LISTINGS must not be negative, got {self.min_listings}"
            )
        if self.min_listings > self.max_listings:
            raise SelectionError(
                f"PLANNER_MIN_LISTINGS ({self.min_listings}) must not be more than "
                f"PLANNER_MAX_LISTINGS ({self.max_listings})"
            )
        if self.coverage_days <= 0:
            raise SelectionError(
                f"PLANNER_COVERAGE_DAYS must be more than 0, got {self.coverage_days:g}"
            )

    def due_after(self, epoch_seconds: float) -> float:
        """Seconds after its last epoch that a zipcode is due: two epochs before the
        deadline, so that one due zipcode the band cannot take still makes the next epoch."""
        due = self.coverage_days * 86400.0 - 2 * epoch_seconds
        if due <= self.cooldown_hours * 3600.0:
            raise SelectionError(
                f"PLANNER_COVERAGE_DAYS ({self.coverage_days:g}) leaves no room after the "
                f"{self.cooldown_hours:g} h cooldown: it must exceed the cooldown by two "
                "epochs; raise it"
            )
        return due

    @property
    def low(self) -> int:
        return math.ceil(self.target_listings * (1 - self.tolerance_percent / 100))

    @property
    def high(self) -> int:
        return math.floor(self.target_listings * (1 + self.tolerance_percent / 100))


@dataclass(frozen=True)
class Pool:
    """The eligible zipcodes, in zipcode order, with what selection needs of them."""

    zipcodes: np.ndarray  # str
    rows: np.ndarray  # int: the zipcode's row in the dataset it came from
    state_index: np.ndarray  # int: position of the zipcode's state in `states`
    listings: np.ndarray  # int64
    states: tuple[str, ...]  # priority order
    weights: tuple[float, ...]  # share weight per state

    def __len__(self) -> int:
        return len(self.zipcodes)


def build_pool(
    dataset: Dataset, priorities: Sequence[StatePriority], config: SelectionConfig
) -> Pool:
    """The zipcodes `planner check` calls eligible, with their state's rank."""
    keep = eligible_mask(dataset, priorities, config.min_listings, config.max_listings)
    order = {p.state: i for i, p in enumerate(priorities)}
    zips = dataset.zipcode[keep]
    by_zip = np.argsort(zips, kind="stable")
    return Pool(
        zipcodes=zips[by_zip],
        rows=np.flatnonzero(keep)[by_zip],
        state_index=np.array([order[s] for s in dataset.state[keep]], dtype=np.int64)[by_zip],
        listings=dataset.listings[keep].astype(np.int64)[by_zip],
        states=tuple(p.state for p in priorities),
        weights=tuple(float(p.weight) for p in priorities),
    )


def epoch_seed(secret: bytes, epoch_id: str) -> bytes:
    return hmac.new(secret, f"{ALGORITHM_VERSION}/select/{epoch_id}".encode(), "sha256").digest()


def phases(secret: bytes, zipcodes: np.ndarray) -> np.ndarray:
    """Each zipcode's place in the coverage cycle, in [0, 1), from the secret alone.

    Per zipcode (not per position), so adding zipcodes to the file moves no other's phase.
    """
    key = hmac.new(secret, f"{ALGORITHM_VERSION}/phase".encode(), "sha256").digest()
    return np.array(
        [
            int.from_bytes(hmac.new(key, z.encode(), "sha256").digest()[:7], "big") / 2.0**56
            for z in zipcodes.tolist()
        ],
        dtype=np.float64,
    )


def uniforms(seed: bytes, count: int) -> np.ndarray:
    """`count` numbers in (0, 1) from PCG64 keyed by the seed.

    NumPy guarantees the raw stream of a bit generator stays the same across releases, so
    the same seed gives the same numbers on every machine and version.
    """
    raw = np.random.PCG64(int.from_bytes(seed, "big")).random_raw(count)
    return ((raw >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def state_quotas(target: float, weights: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Split `target` by weight, capping each state at its capacity and sharing the rest."""
    quota = np.zeros(len(weights))
    open_ = (weights > 0) & (capacity > 0)
    remaining = float(target)
    while open_.any() and remaining > 0:
        share = np.where(open_, weights, 0.0)
        proposal = remaining * (share / share.sum())  # huge weights: divide first
        full = open_ & (proposal >= capacity)
        if not full.any():
            quota[open_] = proposal[open_]
            break
        quota[full] = capacity[full]
        remaining -= capacity[full].sum()
        open_ &= ~full
    return quota


def select(
    pool: Pool,
    last_assigned: np.ndarray,
    epoch_start: float,
    seed: bytes,
    config: SelectionConfig,
    phase: np.ndarray,
    epoch_seconds: float,
) -> np.ndarray:
    """Indices into `pool` of the zipcodes for the epoch starting at `epoch_start` (unix s).

    `last_assigned` holds, per pool entry, the unix start of the epoch it was last assigned
    to (-inf if never); `phase` each entry's place in the coverage cycle (`phases`).
    """
    cooldown = config.cooldown_hours * 3600.0
    available = last_assigned <= epoch_start - cooldown
    listings = pool.listings
    capacity = np.bincount(
        pool.state_index[available], weights=listings[available], minlength=len(pool.states)
    )
    if capacity.sum() < config.low:
        raise SelectionError(
            f"only {int(capacity.sum())} eligible listings are off cooldown, and the band "
            f"needs at least {config.low} (target {config.target_listings} "
            f"± {config.tolerance_percent:g}%): add states to the priority list, widen the "
            "listing bounds, shorten the cooldown or lower PLANNER_TARGET_LISTINGS"
        )
    quota = state_quotas(config.target_listings, np.asarray(pool.weights), capacity)
    waited = waiting(last_assigned, epoch_start, config, phase)
    due = available & (waited > config.due_after(epoch_seconds))

    chosen, total = _take_due(np.flatnonzero(due), waited, pool, config.high)
    taken = np.zeros(len(pool), dtype=bool)
    taken[chosen] = True
    per_state = np.bincount(
        pool.state_index[taken], weights=listings[taken], minlength=len(pool.states)
    )
    keys = -np.log(uniforms(seed, len(pool)))
    keys[~available | taken] = np.inf
    rest = np.maximum(quota - per_state, 0.0)
    candidates = _candidates(keys, available & ~taken, pool, rest)
    drawn, drawn_total = _greedy(candidates, keys, pool, rest, config.high - total)
    chosen += drawn
    total += drawn_total
    if total < config.low:
        order = candidates[np.argsort(keys[candidates], kind="stable")]
        already = set(chosen)
        for i, size in zip(order.tolist(), listings[order].tolist(), strict=True):
            if i not in already and total + size <= config.high:
                chosen.append(i)
                total += size
                if total >= config.low:
                    break
    if total < config.low:
        raise SelectionError(
            f"the available zipcodes cannot be combined into {config.low}..{config.high} "
            f"listings (best found: {total})"
        )
    return np.sort(np.asarray(chosen, dtype=np.int64))


def waiting(
    last_assigned: np.ndarray, epoch_start: float, config: SelectionConfig, phase: np.ndarray
) -> np.ndarray:
    """Seconds each zipcode has waited at `epoch_start`; for a never-assigned one, since the
    last start of its cycle (`coverage_days` long, placed by its phase)."""
    cycle = config.coverage_days * 86400.0
    since_phase = np.mod(epoch_start - phase * cycle, cycle)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(last_assigned), epoch_start - last_assigned, since_phase)


def _take_due(due: np.ndarray, waited: np.ndarray, pool: Pool, high: int) -> tuple[list[int], int]:
    """The due zipcodes that fit under `high`, the longest-waiting first; the rest wait for
    the next epoch (the slack between due and the deadline is there for them)."""
    chosen: list[int] = []
    total = 0
    order = due[np.argsort(-waited[due], kind="stable")]
    for i, size in zip(order.tolist(), pool.listings[order].tolist(), strict=True):
        if total + size <= high:
            chosen.append(i)
            total += size
    return chosen, total


def _candidates(
    keys: np.ndarray, available: np.ndarray, pool: Pool, quota: np.ndarray
) -> np.ndarray:
    """The zipcodes the greedy pass walks: the head of the key order when it holds every quota.

    The head is usually a few hundred of tens of thousands of zipcodes; when it cannot fill
    every state's quota (many states, some with tiny quotas), every available zipcode is a
    candidate.
    """
    count = int(available.sum())
    mean = float(pool.listings[available].mean()) if count else 1.0
    head = max(512, int(4 * quota.sum() / max(mean, 1.0)))
    if head < count:
        part = np.argpartition(keys, head)[:head]
        per_state = np.bincount(
            pool.state_index[part], weights=pool.listings[part], minlength=len(quota)
        )
        if np.all(per_state >= 1.5 * quota):
            return part
    return np.flatnonzero(available)


def _greedy(
    candidates: np.ndarray, keys: np.ndarray, pool: Pool, quota: np.ndarray, high: int
) -> tuple[list[int], int]:
    """Take candidates by ascending key while their state is under quota and total <= high.

    The same choice as walking every candidate in stable key order, but linear: both
    conditions only tighten as zipcodes are taken, so before each chunk the candidates that
    can no longer be taken (state full, or bigger than the room left) are dropped, and only
    the next chunk of the rest is sorted. The loop uses plain Python numbers, ten times
    cheaper per step than numpy scalars.
    """
    quotas = quota.tolist()
    totals = [0.0] * len(quotas)
    open_ = quota > 0
    unfilled = int(open_.sum())
    chosen: list[int] = []
    total = 0
    rest = candidates
    chunk = GREEDY_CHUNK
    while unfilled and len(rest):
        rest = rest[(pool.listings[rest] <= high - total) & open_[pool.state_index[rest]]]
        rest_keys = keys[rest]
        if len(rest) > chunk:
            first = rest_keys <= np.partition(rest_keys, chunk)[chunk]
        else:
            first = np.ones(len(rest), dtype=bool)
        part = rest[first][np.argsort(rest_keys[first], kind="stable")]
        rest = rest[~first]
        chunk *= 2
        for i, state, size in zip(
            part.tolist(),
            pool.state_index[part].tolist(),
            pool.listings[part].tolist(),
            strict=True,
        ):
            if totals[state] < quotas[state] and total + size <= high:
                chosen.append(i)
                totals[state] += size
                total += size
                if totals[state] >= quotas[state]:
                    open_[state] = False
                    unfilled -= 1
                    if not unfilled:
                        break
    return chosen, total
