"""The planner attacked with public information only: how much does it give away?

Three figures, each what the issue behind them asked to measure:

- **Guess cost**: the time to test one guessed PLANNER_SECRET against a published salt
  (one scrypt master key, then one HMAC), next to what the salt alone would cost.
- **Advantage** of two attackers who know the code, the zipcode file, the configuration and
  every revealed epoch, betting on as many zipcodes as the next epoch holds, among those off
  cooldown: one ranks by staleness (never assigned first, then longest ago), the other runs
  the selection code with many random secrets on the real history and bets on the zipcodes
  chosen most often (Monte Carlo). Advantage = the attacker's precision divided by that of
  a random pick among the same off-cooldown zipcodes (1.0: public history says nothing).
- **Worst coverage gap**: the longest any eligible zipcode waits between two epochs (or from
  the first simulated epoch), against the coverage deadline.
- **Floor**: the least advantage that *any* selection meeting the deadline can leave an
  attacker who ranks zipcodes by how long they have waited (`advantage_floor`): what the
  deadline alone gives away, whatever the draw.

Each coverage deadline of the matrix gives one row: the trade-off an operator chooses from
(docs/planner.md). The epochs are simulated with the planner's own `jobs.choose` from a
cold start, a warm-up week first (not scored), then the scored days.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from scipy.optimize import linprog, minimize_scalar

from bench.common import ROOT, Options, machine_line, options, record
from clientkit.epochs import epoch_at, epochs_between
from planner import keys, selection
from planner.dataset import load_dataset, load_priorities
from planner.jobs import choose

NAME = "attack"
START = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
FULL: dict[str, Any] = {
    "warmupDays": 7,
    "days": 12,
    "secrets": 16,
    "deadlines": [7.0, 8.0, 9.0, 10.0, 14.0],
}
SHORT: dict[str, Any] = {"warmupDays": 1, "days": 1, "secrets": 4, "deadlines": [7.0]}
DEFAULT_DEADLINE = 7.0
EPOCH_HOURS = 4
TARGETS = {"maxAdvantage": 1.2, "minGuessMs": 100.0}


def guess_cost(rounds: int) -> dict[str, float]:
    """Median ms for one guess through the master key, and µs for one bare HMAC guess."""
    timings = []
    for _ in range(rounds):
        guess = secrets.token_hex(32).encode()
        started = time.perf_counter()
        master = keys.master_key.__wrapped__(guess)
        hmac.new(master, b"salt/2026-11-25T16-00-00", hashlib.sha256).digest()
        timings.append((time.perf_counter() - started) * 1000)
    count = 100_000
    started = time.perf_counter()
    for i in range(count):
        hmac.new(b"%d" % i, b"salt/2026-11-25T16-00-00", hashlib.sha256).digest()
    bare_us = (time.perf_counter() - started) / count * 1e6
    return {
        "guessMs": round(statistics.median(timings), 1),
        "guessMsMin": round(min(timings), 1),
        "bareHmacGuessUs": round(bare_us, 2),
        "slowdown": round(statistics.median(timings) * 1000 / bare_us),
    }


def simulate(
    pool: selection.Pool, config: selection.SelectionConfig, secret: bytes, epochs: list
) -> list[np.ndarray]:
    """The pool indices chosen for each epoch, as the planner chooses them."""
    dataset_order = {z: i for i, z in enumerate(pool.zipcodes.tolist())}
    history: dict[str, int] = {}
    chosen = []
    for _, document in choose(DATASET, PRIORITIES, config, secret, history, epochs):
        chosen.append(np.array([dataset_order[z["zipcode"]] for z in document["zipcodes"]]))
    return chosen


def attack(
    pool: selection.Pool,
    config: selection.SelectionConfig,
    chosen: list[np.ndarray],
    epochs: list,
    scored_from: int,
    guesses: int,
) -> dict[str, Any]:
    """Both attackers on every scored epoch; precision sums, and the random baseline's."""
    rng = np.random.default_rng(46)
    last = np.full(len(pool), -np.inf)
    totals = {"staleness": 0.0, "monteCarlo": 0.0, "random": 0.0, "recall2n": 0.0}
    scored = 0
    for index, (epoch, picked) in enumerate(zip(epochs, chosen, strict=True)):
        start = epoch.start.timestamp()
        if index >= scored_from:
            available = np.flatnonzero(last <= start - config.cooldown_hours * 3600)
            n = len(picked)
            actual = np.zeros(len(pool), dtype=bool)
            actual[picked] = True
            tie = rng.random(len(pool))
            stale = available[np.lexsort((tie[available], last[available]))][:n]
            counts = np.zeros(len(pool))
            for _ in range(guesses):
                fake = secrets.token_bytes(32)
                counts[
                    selection.select(
                        pool,
                        last,
                        start,
                        selection.epoch_seed(fake, epoch.id),
                        config,
                        selection.phases(fake, pool.zipcodes),
                        (epoch.end - epoch.start).total_seconds(),
                    )
                ] += 1
            ranked = available[np.lexsort((tie[available], -counts[available]))]
            totals["staleness"] += actual[stale].sum() / n
            totals["monteCarlo"] += actual[ranked[:n]].sum() / n
            totals["recall2n"] += actual[ranked[: 2 * n]].sum() / n
            totals["random"] += n / len(available)
            scored += 1
        last[picked] = start
    return {
        "epochsScored": scored,
        "stalenessPrecision": round(float(totals["staleness"]) / scored, 4),
        "monteCarloPrecision": round(float(totals["monteCarlo"]) / scored, 4),
        "monteCarloRecallTop2n": round(float(totals["recall2n"]) / scored, 4),
        "randomPrecision": round(float(totals["random"]) / scored, 4),
        "stalenessAdvantage": round(float(totals["staleness"] / totals["random"]), 3),
        "monteCarloAdvantage": round(float(totals["monteCarlo"] / totals["random"]), 3),
    }


def worst_gap(pool_size: int, chosen: list[np.ndarray], epoch_hours: int) -> dict[str, Any]:
    """The longest wait of any zipcode, in epochs and days, counting from the first epoch
    and up to the last simulated one (a zipcode never chosen waits the whole run)."""
    last = np.full(pool_size, -1)
    gap = np.zeros(pool_size, dtype=np.int64)
    for index, picked in enumerate(chosen):
        gap[picked] = np.maximum(gap[picked], index - last[picked])
        last[picked] = index
    gap = np.maximum(gap, len(chosen) - last)
    worst = int(gap.max())
    return {"worstGapEpochs": worst, "worstGapDays": round(worst * epoch_hours / 24, 2)}


def advantage_floor(deadline: int, cooldown: int, mean_wait: float) -> float:
    """The least advantage over a random off-cooldown pick that any selection leaves an
    attacker who knows how long each zipcode has waited, in the long run.

    All in epochs: a zipcode taken in one epoch can be taken again `cooldown` epochs later
    and must be by `deadline`. Whatever the draw, the waits between two assignments of a
    zipcode, pooled over zipcodes, have some distribution p over [cooldown, deadline] whose
    mean is `mean_wait` (eligible zipcodes / those an epoch takes). With n taken per epoch,
    n*S(w) zipcodes have waited w epochs (S(w) = P(wait >= w)), and n*p(w) of them are
    taken now: the attacker bets on the waits of highest p(w)/S(w), n zipcodes in all
    (total S at most 1), and hits the sum of p over them, where a random pick among the
    n*(mean_wait - cooldown + 1) off-cooldown zipcodes hits 1/(mean_wait - cooldown + 1) of
    its n. The attacker's best is a fractional knapsack, equal by duality to
    min over lambda of lambda + sum(max(0, p(w) - lambda*S(w))); for a fixed lambda the least
    over p is a linear programme, and the floor is its least over lambda.
    """
    waits = np.arange(cooldown, deadline + 1, dtype=float)
    k = len(waits)
    if cooldown < 1 or k == 0 or not waits[0] <= mean_wait <= waits[-1]:
        raise ValueError(f"no waits in [{cooldown}, {deadline}] average {mean_wait}")
    survival = np.triu(np.ones((k, k)))  # S = survival @ p
    objective = np.r_[np.zeros(k), np.ones(k)]  # variables: p, then the excess over lambda*S
    equalities = np.array([np.r_[np.ones(k), np.zeros(k)], np.r_[waits, np.zeros(k)]])

    def least(lam: float) -> float:
        bounds = np.hstack([np.eye(k) - lam * survival, -np.eye(k)])  # p - lam*S - excess <= 0
        solved = linprog(objective, bounds, np.zeros(k), equalities, [1.0, mean_wait])
        return lam + solved.fun if solved.success else np.inf

    grid = np.linspace(0.0, 1.0, 201)
    best = grid[int(np.argmin([least(lam) for lam in grid]))]
    refined = minimize_scalar(least, bounds=(max(0.0, best - 0.005), best + 0.005))
    return float(min(refined.fun, least(best)) * (mean_wait - cooldown + 1))


def run_deadline(deadline: float, plan: dict[str, Any], secret: bytes) -> dict[str, Any]:
    config = replace(selection.SelectionConfig(), coverage_days=deadline)
    pool = selection.build_pool(DATASET, PRIORITIES, config)
    first = epoch_at(START)
    days = plan["warmupDays"] + plan["days"]
    epochs = list(epochs_between(first, first.start + timedelta(days=days)))
    chosen = simulate(pool, config, secret, epochs)
    figures = attack(
        pool, config, chosen, epochs, 24 // EPOCH_HOURS * plan["warmupDays"], plan["secrets"]
    )
    per_epoch = statistics.mean(len(c) for c in chosen)
    floor = advantage_floor(
        round(deadline * 24 / EPOCH_HOURS),
        round(config.cooldown_hours / EPOCH_HOURS),
        len(pool) / per_epoch,
    )
    return {
        "coverageDays": deadline,
        "eligibleZipcodes": len(pool),
        "meanZipcodesPerEpoch": round(per_epoch, 1),
        "advantageFloor": round(floor, 3),
        **figures,
        **worst_gap(len(pool), chosen, EPOCH_HOURS),
    }


DATASET = load_dataset(ROOT / "data/zipcodes.csv")
PRIORITIES = load_priorities(ROOT / "data/state_priorities.txt")


def markdown(document: dict[str, Any], command: str) -> str:
    g = document["guess"]
    rows = [
        "| coverage deadline | staleness advantage | Monte Carlo advantage | floor, any draw "
        "| Monte Carlo top-2n recall | random pick precision | worst gap |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in document["runs"]:
        rows.append(
            f"| {r['coverageDays']:g} days | {r['stalenessAdvantage']:.2f}x | "
            f"{r['monteCarloAdvantage']:.2f}x | {r['advantageFloor']:.2f}x | "
            f"{r['monteCarloRecallTop2n']:.0%} | "
            f"{r['randomPrecision']:.1%} | {r['worstGapDays']:g} days |"
        )
    return "\n".join(
        [
            "### Attack: what public information gives away (`python -m bench.attack`)",
            "",
            machine_line(document),
            f"Command: `{command}`. Sample data (PA+NJ), default band and 24 h cooldown; "
            f"{document['plan']['warmupDays']} warm-up days then "
            f"{document['plan']['days']} scored days ({document['runs'][0]['epochsScored']} "
            f"epochs), {document['plan']['secrets']} random secrets per epoch for the Monte "
            "Carlo attacker. *Floor, any draw*: the least advantage that any selection meeting "
            "the deadline leaves an attacker who ranks zipcodes by their wait, given the "
            "cooldown and the zipcodes an epoch takes (`advantage_floor`, a linear programme "
            "over the distribution of waits).",
            "",
            f"- One guess of PLANNER_SECRET from a published salt: {g['guessMs']} ms (median; "
            f"fastest {g['guessMsMin']} ms) and 64 MiB, against {g['bareHmacGuessUs']} µs for "
            f"a bare HMAC: {g['slowdown']:,} times slower. Target: at least "
            f"{TARGETS['minGuessMs']:g} ms.",
            "",
            *rows,
            "",
            f"Targets at the default deadline ({DEFAULT_DEADLINE:g} days): advantage at most "
            f"{TARGETS['maxAdvantage']}x for both attackers, worst gap at most 7 days. "
            f"Met: {'yes' if document['meetsTargets'] else 'no'}.",
        ]
    )


def run(opts: Options) -> dict[str, Any]:
    plan = SHORT if opts.short else FULL
    secret = secrets.token_bytes(32)
    guess = guess_cost(2 if opts.short else 7)
    runs = []
    for deadline in plan["deadlines"]:
        runs.append(run_deadline(deadline, plan, secret))
        print(f"coverage deadline {deadline:g} days: {runs[-1]}", file=sys.stderr)
    default = next(r for r in runs if r["coverageDays"] == DEFAULT_DEADLINE)
    meets = bool(
        guess["guessMs"] >= TARGETS["minGuessMs"]
        and default["stalenessAdvantage"] <= TARGETS["maxAdvantage"]
        and default["monteCarloAdvantage"] <= TARGETS["maxAdvantage"]
        and default["worstGapDays"] <= DEFAULT_DEADLINE
    )
    document = {"plan": plan, "guess": guess, "runs": runs, "meetsTargets": meets}
    return record(opts, NAME, document, lambda written: markdown(written, "python -m bench.attack"))


if __name__ == "__main__":
    run(options(__doc__.splitlines()[0]))
