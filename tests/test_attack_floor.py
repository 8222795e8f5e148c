"""The advantage floor (bench/attack.py) is the true least over every wait distribution.

It backs a claim the docs make to the operator (no selection meeting a 7-day deadline keeps
a wait-ranking attacker under 1.2x on the sample), so it is checked against an answer
derived by hand and against brute force over every distribution of a small case.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.attack import advantage_floor


def attacker_best(p: np.ndarray) -> float:
    """The attacker's hits per bet zipcode for waits distributed as p: the waits of highest
    p/S first, total S at most 1 (a fractional knapsack, taken greedily)."""
    survival = np.cumsum(p[::-1])[::-1]
    room, hits = 1.0, 0.0
    for w in sorted(np.flatnonzero(survival > 0), key=lambda w: -p[w] / survival[w]):
        take = min(1.0, room / survival[w])
        hits += take * p[w]
        room -= take * survival[w]
        if room <= 0:
            break
    return hits


def test_floor_matches_the_hand_derived_case():
    # Taken again after 1 to 3 epochs, 2 on average: the waits are (t, 1-2t, t). Betting on
    # the due ones then those at 2 hits 1-t while that order holds (t <= (3-sqrt 5)/2),
    # 2t-t^2 after; the least is at the golden ratio: 1-t = (sqrt 5 - 1)/2, over a random
    # pick's 1/(mean - cooldown + 1) = 1/2.
    assert advantage_floor(3, 1, 2.0) == pytest.approx(math.sqrt(5) - 1, abs=1e-4)


def test_floor_is_the_least_over_every_distribution_of_a_small_case():
    cooldown, deadline, mean = 2, 5, 3.2
    best = math.inf
    # p over the waits 2..5 with sum 1 and mean 3.2: two free weights, the rest solved for.
    for a in np.linspace(0, 1, 201):
        for b in np.linspace(0, 1 - a, 201):
            # p(2) = a, p(3) = b; p(4) + p(5) = 1-a-b and 4 p4 + 5 p5 = mean - 2a - 3b.
            rest = 1 - a - b
            p5 = mean - 2 * a - 3 * b - 4 * rest
            p4 = rest - p5
            if p4 < -1e-12 or p5 < -1e-12:
                continue
            p = np.clip([a, b, p4, p5], 0, None)
            best = min(best, attacker_best(p) * (mean - cooldown + 1))
    floor = advantage_floor(deadline, cooldown, mean)
    assert floor <= best + 1e-6
    assert floor == pytest.approx(best, abs=0.01)


def test_a_longer_deadline_gives_less_away_and_a_long_one_almost_nothing():
    floors = [advantage_floor(d, 6, 17.0) for d in (42, 48, 60, 120)]
    assert floors == sorted(floors, reverse=True)
    assert floors[0] > 1.3
    assert floors[-1] == pytest.approx(1.0, abs=0.01)


def test_a_mean_wait_the_deadline_cannot_hold_is_refused():
    with pytest.raises(ValueError, match="average"):
        advantage_floor(10, 6, 12.0)
    with pytest.raises(ValueError, match="average"):
        advantage_floor(10, 0, 5.0)
