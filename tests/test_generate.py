"""The deterministic mock Zillow export and the sample files made from it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zipcodes

from planner.dataset import STATE_CODES, DatasetError, load_dataset, parse_priorities, summarise
from planner.generate import (
    COLUMNS,
    SAMPLE_SEED,
    SAMPLE_STATES,
    generate,
    to_csv_bytes,
    to_json_bytes,
    write,
)

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def national():
    return generate(None, 7)


@pytest.fixture(scope="module")
def housing():
    """Per zipcode (sorted): whether it is an active STANDARD zipcode, i.e. has homes."""
    records = sorted(zipcodes.list_all(), key=lambda r: r["zip_code"])
    return np.array([r["zip_code_type"] == "STANDARD" and r["active"] for r in records])


def test_sample_files_are_the_generator_output():
    frame = generate(SAMPLE_STATES, SAMPLE_SEED)
    assert (DATA / "zipcodes.csv").read_bytes() == to_csv_bytes(frame)
    assert (DATA / "zipcodes.json").read_bytes() == to_json_bytes(frame)


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not():
    first, again, other = (generate(["NJ", "DE"], seed) for seed in (5, 5, 6))
    assert to_csv_bytes(first) == to_csv_bytes(again)
    assert to_json_bytes(first) == to_json_bytes(again)
    assert to_csv_bytes(first) != to_csv_bytes(other)
    assert (first["zipcode"] == other["zipcode"]).all()
    assert (first["recently_sold_listings"] != other["recently_sold_listings"]).any()


def test_national_generation_covers_every_real_zipcode(national, tmp_path):
    assert tuple(national.columns) == COLUMNS
    assert len(national) == len(zipcodes.list_all()) == 42789
    assert national["zipcode"].is_unique
    assert national["zipcode"].str.fullmatch(r"\d{5}").all()
    assert set(national["state"]) == STATE_CODES
    path = tmp_path / "national.csv"
    write(national, path)
    dataset = load_dataset(path)
    assert len(dataset) == 42789
    assert int(dataset.listings.sum()) == int(national["recently_sold_listings"].sum())


def test_requested_states_are_a_slice_of_the_national_file(national):
    nj = generate(["nj"], 7)
    assert len(nj) == 738
    expected = national[national["state"] == "NJ"].reset_index(drop=True)
    assert to_csv_bytes(nj) == to_csv_bytes(expected)


def test_unknown_state_is_refused():
    with pytest.raises(DatasetError, match="unknown state code 'XX'"):
        generate(["PA", "XX"], 1)


def test_listing_counts_are_skewed_and_bounded(national, housing):
    listings = national["recently_sold_listings"].to_numpy()
    assert listings.min() >= 0
    assert listings.max() <= 1000
    assert set(np.unique(listings[~housing])) <= {0, 1, 2}
    homes = listings[housing]
    assert homes.min() >= 1
    assert np.mean((homes >= 5) & (homes <= 300)) > 0.9
    assert np.mean(homes > 800) < 0.005
    assert homes.max() > 600
    assert homes.mean() > 1.2 * np.median(homes)


def test_other_columns_are_plausible(national, housing):
    population = national["population"].to_numpy()
    assert (population[~housing] == 0).all()
    assert (population[housing] >= 100).all()
    value = national["median_home_value"].to_numpy()
    tier = national["market_tier"].to_numpy(dtype=str)
    assert ((value >= 450_000) == (tier == "premium")).all()
    assert ((value < 200_000) == (tier == "emerging")).all()
    assert set(tier) == {"premium", "standard", "emerging"}
    region = dict(zip(national["state"], national["geographic_region"], strict=True))
    assert (region["PA"], region["NJ"], region["CA"], region["TX"], region["OH"]) == (
        "Northeast",
        "Northeast",
        "West",
        "South",
        "Midwest",
    )
    assert set(national["last_scraped"]) == {"2025-01-08"}
    assert set(generate(["DE"], 0)["last_scraped"]) == {"2025-01-01"}


def test_json_keeps_zipcodes_as_text_and_counts_as_numbers():
    items = json.loads(to_json_bytes(generate(["NJ"], 2)))
    assert len(items) == 738
    assert list(items[0]) == list(COLUMNS)
    assert all(isinstance(item["zipcode"], str) and item["zipcode"][0] == "0" for item in items)
    for key in ("population", "median_home_value", "recently_sold_listings"):
        assert all(type(item[key]) is int for item in items)


def test_sample_listings_cover_more_than_a_day_of_demand():
    """About 60,000 listings a day, split 2:1, under a 24-hour cooldown."""
    rows = summarise(load_dataset(DATA / "zipcodes.csv"), parse_priorities("PA\nNJ"), 1, 1000)
    totals = {row.state: row.eligible_listings for row in rows}
    assert 110_000 <= totals["PA"] <= 130_000
    assert 45_000 <= totals["NJ"] <= 55_000


@pytest.mark.parametrize("name", ["zips.csv", "zips.json"])
def test_write_replaces_the_file_whole(tmp_path, name):
    frame = generate(["RI"], 3)
    path = tmp_path / "out" / name
    path.parent.mkdir()
    path.write_text("old")
    size = write(frame, path)
    assert path.stat().st_size == size
    assert [p.name for p in path.parent.iterdir()] == [name]
    assert load_dataset(path).zipcode.tolist() == frame["zipcode"].tolist()


def test_write_refuses_an_unknown_extension(tmp_path):
    with pytest.raises(DatasetError, match=r"must end in \.csv or \.json"):
        write(generate(["RI"], 3), tmp_path / "zips.xlsx")
    assert list(tmp_path.iterdir()) == []
