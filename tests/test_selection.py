"""Selection rules of docs/design.md over simulated time, plus properties on random data."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientkit.epochs import epoch_at, epochs_between
from planner.dataset import Dataset, StatePriority
from planner.jobs import PlanError, choose
from planner.selection import SelectionConfig, SelectionError, state_quotas

from conftest import NOW, SECRET


def simulate(sample, days=30, secret=SECRET, config=None, history=None):
    dataset, priorities = sample
    first = epoch_at(NOW)
    epochs = epochs_between(first, first.start + timedelta(days=days))
    return [
        doc
        for _, doc in choose(
            dataset, priorities, config or SelectionConfig(), secret, history or {}, epochs
        )
    ]


@pytest.fixture(scope="module")
def month(sample):
    return simulate(sample)


def test_thirty_days_stay_in_band_with_listed_states_only(month, sample) -> None:
    dataset, priorities = sample
    assert len(month) == 30 * 6
    listed = {p.state for p in priorities}
    listings = dict(zip(dataset.zipcode.tolist(), dataset.listings.tolist(), strict=True))
    for doc in month:
        total = doc["metadata"]["totalExpectedListings"]
        assert 9_000 <= total <= 11_000
        assert total == sum(z["expectedListings"] for z in doc["zipcodes"])
        assert doc["metadata"]["zipcodeCount"] == len(doc["zipcodes"])
        assert {z["state"] for z in doc["zipcodes"]} <= listed
        for z in doc["zipcodes"]:
            assert len(z["zipcode"]) == 5 and z["zipcode"].isdigit()
            assert z["expectedListings"] == listings[z["zipcode"]]


def test_no_zipcode_repeats_within_the_cooldown(month) -> None:
    last: dict[str, int] = {}
    for index, doc in enumerate(month):
        for z in doc["zipcodes"]:
            if z["zipcode"] in last:
                assert index - last[z["zipcode"]] >= 6, z["zipcode"]
            last[z["zipcode"]] = index


def test_coverage_grows_until_every_eligible_zipcode_had_its_turn(month, sample) -> None:
    dataset, _ = sample
    eligible = int(((dataset.listings >= 1) & (dataset.listings <= 1000)).sum())
    seen: set[str] = set()
    sizes = []
    for doc in month:
        seen |= {z["zipcode"] for z in doc["zipcodes"]}
        sizes.append(len(seen))
    assert sizes == sorted(sizes)
    assert sizes[6 * 3] > sizes[6]
    assert sizes[6 * 4 - 1] == eligible  # every eligible zipcode within four days


def test_higher_priority_state_gets_the_larger_share(month) -> None:
    shares: Counter[str] = Counter()
    for doc in month:
        for z in doc["zipcodes"]:
            shares[z["state"]] += z["expectedListings"]
    pa = shares["PA"] / sum(shares.values())
    assert pa == pytest.approx(2 / 3, abs=0.02)


def test_same_inputs_same_bytes_other_secret_unrelated(sample) -> None:
    first = simulate(sample, days=2)
    assert simulate(sample, days=2) == first
    other = simulate(sample, days=2, secret=b"another-secret-0123456789abcdef0123")
    for a, b in zip(first, other, strict=True):
        mine = {z["zipcode"] for z in a["zipcodes"]}
        theirs = {z["zipcode"] for z in b["zipcodes"]}
        assert len(mine & theirs) < 0.5 * len(mine)
        assert a["salt"] != b["salt"] and a["nonce"] != b["nonce"]


def test_too_few_listings_is_a_clear_refusal(sample) -> None:
    with pytest.raises(PlanError, match=r"only .* eligible listings are off cooldown"):
        simulate(sample, days=1, config=SelectionConfig(target_listings=500_000))


def test_state_quotas_share_by_weight_and_pass_on_what_a_state_lacks() -> None:
    weights = np.array([1.0, 0.5])
    assert state_quotas(9000, weights, np.array([1e9, 1e9])) == pytest.approx([6000, 3000])
    assert state_quotas(9000, weights, np.array([1e9, 1000])) == pytest.approx([8000, 1000])
    assert state_quotas(9000, weights, np.array([0, 1e9])) == pytest.approx([0, 9000])


def test_configuration_is_validated() -> None:
    for bad in (
        {"target_listings": 0},
        {"tolerance_percent": 100},
        {"min_listings": 10, "max_listings": 5},
        {"cooldown_hours": -1},
    ):
        with pytest.raises(SelectionError):
            SelectionConfig(**bad)


STATES = ["PA", "NJ", "NY", "DE"]


@st.composite
def datasets(draw):
    size = draw(st.integers(min_value=20, max_value=300))
    zips = draw(st.lists(st.integers(0, 99_999), min_size=size, max_size=size, unique=True))
    states = draw(st.lists(st.sampled_from(STATES), min_size=size, max_size=size))
    listings = draw(st.lists(st.integers(0, 400), min_size=size, max_size=size))
    listed = draw(st.lists(st.sampled_from(STATES), min_size=1, max_size=3, unique=True))
    config = SelectionConfig(
        target_listings=draw(st.integers(200, 3000)),
        tolerance_percent=draw(st.sampled_from([5.0, 10.0, 20.0])),
        cooldown_hours=draw(st.sampled_from([0.0, 4.0, 24.0])),
        max_listings=draw(st.sampled_from([100, 400])),
    )
    order = np.argsort([f"{z:05d}" for z in zips])
    dataset = Dataset(
        source="hypothesis",
        sha256="0" * 64,
        zipcode=np.array([f"{z:05d}" for z in zips])[order],
        state=np.array(states)[order],
        city=np.array(["Town"] * size),
        county=np.array(["County"] * size),
        market_tier=np.array(["standard"] * size),
        listings=np.array(listings, dtype=np.int64)[order],
    )
    priorities = [StatePriority(s, i + 1, 1 / (i + 1)) for i, s in enumerate(listed)]
    return dataset, priorities, config


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets())
def test_every_epoch_in_band_or_a_clear_refusal(case) -> None:
    dataset, priorities, config = case
    listed = {p.state for p in priorities}
    first = epoch_at(NOW)
    history: dict[str, int] = {}
    chosen = []
    try:
        for epoch, doc in choose(
            dataset,
            priorities,
            config,
            SECRET,
            history,
            epochs_between(first, first.start + timedelta(days=2)),
        ):
            chosen.append((epoch, doc))
    except PlanError as exc:
        assert "epoch" in str(exc) or "no eligible zipcodes" in str(exc)
    last: dict[str, float] = {}
    for epoch, doc in chosen:
        assert config.low <= doc["metadata"]["totalExpectedListings"] <= config.high
        for z in doc["zipcodes"]:
            assert z["state"] in listed
            assert config.min_listings <= z["expectedListings"] <= config.max_listings
            start = epoch.start.timestamp()
            if z["zipcode"] in last:
                assert start - last[z["zipcode"]] >= config.cooldown_hours * 3600
            last[z["zipcode"]] = start
