"""Salted, deterministic choice of each epoch's zipcodes.

How it works, in the terms an operator tunes:

1. Eligible zipcodes belong to a state on the priority list and have between
   `min_listings` and `max_listings` expected listings.
2. A zipcode assigned less than `cooldown_hours` before an epoch starts is not available.
3. The epoch's target is split between states in proportion to their weights (1/rank by
   default: with PA then NJ, PA gets 2/3 and NJ 1/3). A state whose available listings
   cannot fill its share gives the rest to the others, in the same proportions.
4. Inside a state zipcodes are drawn by a weighted random race (Efraimidis-Spirakis):
   each gets a key -ln(u)/w, where u comes from a stream keyed by HMAC(secret, epochId)
   and w is the square of the cooldowns elapsed since the zipcode was last assigned,
   from 1 up to 16 (w = 256; never assigned counts as the maximum). Overdue zipcodes
   therefore come first, so the PA+NJ sample is fully covered within four days, yet
   nobody without the secret can rank them.
5. Zipcodes are taken in key order until the state's share is met, skipping any that would
   push the epoch over target + tolerance; a final pass tops up to the lower bound.

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

ALGORITHM_VERSION = "s46-select-v1"
MAX_STALENESS = 16.0
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

    def __post_init__(self) -> None:
        if self.target_listings <= 0:
            raise SelectionError("PLANNER_TARGET_LISTINGS must be a positive number")
        if not 0 <= self.tolerance_percent < 100:
            raise SelectionError("PLANNER_TOLERANCE_PERCENT must be between 0 and 100")
        if self.cooldown_hours < 0:
            raise SelectionError("the cooldown cannot be negative")
        if not 0 <= self.min_listings <= self.max_listings:
            raise SelectionError("listing bounds need 0 <= min_listings <= max_listings")

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
        proposal = remaining * share / share.sum()
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
) -> np.ndarray:
    """Indices into `pool` of the zipcodes for the epoch starting at `epoch_start` (unix s).

    `last_assigned` holds, per pool entry, the unix start of the epoch it was last assigned
    to (-inf if never).
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

    with np.errstate(divide="ignore"):
        age = (epoch_start - last_assigned) / max(cooldown, 1.0)
    staleness = np.clip(np.nan_to_num(age, posinf=MAX_STALENESS), 1.0, MAX_STALENESS) ** 2
    keys = -np.log(uniforms(seed, len(pool))) / staleness
    keys[~available] = np.inf

    candidates = _candidates(keys, available, pool, quota)
    chosen, total = _greedy(candidates, keys, pool, quota, config.high)
    if total < config.low:
        order = candidates[np.argsort(keys[candidates], kind="stable")]
        taken = set(chosen)
        for i, size in zip(order.tolist(), listings[order].tolist(), strict=True):
            if i not in taken and total + size <= config.high:
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
