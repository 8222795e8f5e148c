"""Deterministic mock of the operator's Zillow export, built on every real US zipcode.

The zipcodes, states, cities and counties are real (the `zipcodes` package); population,
home value and listing counts are synthetic. Every zipcode's values are drawn in one pass
over the national list, so a zipcode gets the same values whichever states are requested:
the PA+NJ sample is an exact slice of the national file generated with the same seed.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import zipcodes

from planner.dataset import STATE_CODES, DatasetError

SAMPLE_SEED = 46
SAMPLE_STATES = ("PA", "NJ")

COLUMNS = (
    "zipcode",
    "state",
    "city",
    "county",
    "population",
    "median_home_value",
    "recently_sold_listings",
    "market_tier",
    "geographic_region",
    "last_scraped",
)

# Listings of an active STANDARD zipcode: lognormal with median 58 and sigma 0.85, so most
# fall in 8-300 and about 1 in 1000 exceeds 800; the mean (~83) gives the PA+NJ sample about
# 123k and 48k listings: 3 and 2.4 days of demand at 10k listings per 4-hour epoch split
# 2:1 (40k and 20k a day), so a 24-hour cooldown always leaves enough to choose from.
# PO boxes, single-organisation (UNIQUE), military and retired zipcodes have no homes for
# sale: 0-2.
LISTINGS_MEDIAN = 58
LISTINGS_SIGMA = 0.85
MAX_LISTINGS = 1000
PEOPLE_PER_LISTING = 120
HOME_VALUE_MEDIAN = 230_000
PREMIUM_FROM = 450_000
STANDARD_FROM = 200_000

# Rough state price levels relative to the national median, for plausible market tiers.
PRICE_LEVEL = {
    "HI": 3.0, "CA": 2.8, "DC": 2.6, "MA": 2.2, "WA": 2.1, "CO": 2.0, "NJ": 1.8, "UT": 1.8,
    "NY": 1.6, "OR": 1.8, "MD": 1.6, "CT": 1.5, "RI": 1.7, "NH": 1.7, "ID": 1.6, "MT": 1.6,
    "NV": 1.6, "AZ": 1.5, "FL": 1.5, "VA": 1.5, "PA": 0.95, "OH": 0.85, "MI": 0.9,
    "IN": 0.85, "IA": 0.85, "KS": 0.85, "OK": 0.8, "AR": 0.75, "KY": 0.8, "AL": 0.8,
    "LA": 0.8, "MS": 0.7, "WV": 0.6, "PR": 0.5, "VI": 1.2, "GU": 1.3, "AS": 0.6,
}  # fmt: skip

# US Census regions; territories and military codes get their own.
REGIONS = {
    "Northeast": "CT ME MA NH RI VT NJ NY PA",
    "Midwest": "IL IN MI OH WI IA KS MN MO NE ND SD",
    "South": "DE DC FL GA MD NC SC VA WV AL KY MS TN AR LA OK TX",
    "West": "AZ CO ID MT NV NM UT WY AK CA HI OR WA",
    "Territory": "PR VI GU AS MP FM MH PW",
    "Military": "AA AE AP",
}
REGION_OF = {code: region for region, codes in REGIONS.items() for code in codes.split()}


def generate(states: Iterable[str] | None, seed: int) -> pd.DataFrame:
    """The seed schema for every zipcode of `states` (all when None), sorted by zipcode.

    Same seed, same frame; the zipcode column is text. Raises DatasetError for an unknown
    state code.
    """
    wanted = None if states is None else {code.strip().upper() for code in states}
    unknown = sorted((wanted or set()) - STATE_CODES)
    if unknown:
        raise DatasetError([f"unknown state code {code!r}" for code in unknown])
    records = sorted(zipcodes.list_all(), key=lambda record: record["zip_code"])
    frame = pd.DataFrame(
        {
            "zipcode": [r["zip_code"] for r in records],
            "state": [r["state"] for r in records],
            "city": [r["city"] for r in records],
            "county": [r["county"] or "" for r in records],
        },
        dtype=str,
    )
    housing = np.array(
        [r["zip_code_type"] == "STANDARD" and r["active"] for r in records], dtype=bool
    )
    frame = pd.concat(
        [frame, _synthetic(frame["state"].to_numpy(dtype=str), housing, seed)], axis=1
    )
    if wanted is not None:
        frame = frame[frame["state"].isin(wanted)].reset_index(drop=True)
    return frame.loc[:, list(COLUMNS)]


def _synthetic(state: np.ndarray, housing: np.ndarray, seed: int) -> pd.DataFrame:
    """Population, home value and listings, correlated the way a real market is: more
    people, more sales; home value drives the tier."""
    rng = np.random.default_rng(seed)
    n = len(state)
    size, crowding, price = (rng.standard_normal(n) for _ in range(3))
    trickle = rng.integers(0, 3, n)
    listings = np.clip(np.rint(LISTINGS_MEDIAN * np.exp(LISTINGS_SIGMA * size)), 1, MAX_LISTINGS)
    listings = np.where(housing, listings, trickle).astype(np.int64)
    people = np.rint(listings * PEOPLE_PER_LISTING * np.exp(0.35 * crowding)).astype(np.int64)
    population = np.where(housing, np.maximum(people, 100), 0)
    level = np.array([PRICE_LEVEL.get(code, 1.0) for code in state])
    value = HOME_VALUE_MEDIAN * level * np.exp(0.4 * price)
    median_home_value = (np.rint(np.clip(value, 25_000, 5_000_000) / 100) * 100).astype(np.int64)
    tier = np.where(
        median_home_value >= PREMIUM_FROM,
        "premium",
        np.where(median_home_value >= STANDARD_FROM, "standard", "emerging"),
    )
    scraped = (date(2025, 1, 1) + timedelta(days=seed % 365)).isoformat()
    return pd.DataFrame(
        {
            "population": population,
            "median_home_value": median_home_value,
            "recently_sold_listings": listings,
            "market_tier": pd.array(tier, dtype=str),
            "geographic_region": pd.array([REGION_OF[code] for code in state], dtype=str),
            "last_scraped": pd.array([scraped] * n, dtype=str),
        }
    )


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The seed-schema CSV: header, one line per zipcode, LF line ends, UTF-8."""
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def to_json_bytes(frame: pd.DataFrame) -> bytes:
    """A JSON array of objects with the CSV's keys, one object per line for readable diffs;
    zipcodes as strings, counts as numbers."""
    numeric = {"population", "median_home_value", "recently_sold_listings"}
    lines = []
    for row in frame.itertuples(index=False):
        record = {
            key: int(value) if key in numeric else str(value)
            for key, value in zip(frame.columns, row, strict=True)
        }
        lines.append("  " + json.dumps(record, ensure_ascii=False))
    return ("[\n" + ",\n".join(lines) + "\n]\n").encode("utf-8")


def write(frame: pd.DataFrame, path: str | Path) -> int:
    """Write `frame` as CSV or JSON by the file's extension, atomically (a reader never sees
    half a file); returns the number of bytes written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise DatasetError([f"{path}: the file name must end in .csv or .json"])
    payload = to_csv_bytes(frame) if suffix == ".csv" else to_json_bytes(frame)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(payload)
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise DatasetError([f"{path}: cannot write it: {exc.strerror or exc}"]) from None
        raise
    return len(payload)
