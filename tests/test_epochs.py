from datetime import UTC, datetime, timedelta

import pytest

from clientkit.epochs import (
    QUICKNET_GENESIS,
    EpochError,
    epoch_at,
    epoch_from_id,
    parse_instant,
    reveal_round,
    round_time,
)


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        ("2026-11-25T16:00:00Z", "2026-11-25T16-00-00"),
        ("2026-11-25T19:59:59Z", "2026-11-25T16-00-00"),
        ("2026-11-25T20:00:00Z", "2026-11-25T20-00-00"),
        ("2026-11-25T00:00:00Z", "2026-11-25T00-00-00"),
        ("2026-11-25T03:59:59+00:00", "2026-11-25T00-00-00"),
        ("2026-11-25T01:30:00-05:00", "2026-11-25T04-00-00"),
    ],
)
def test_epoch_grid_is_utc_four_hours(instant: str, expected: str) -> None:
    epoch = epoch_at(parse_instant(instant))
    assert epoch.id == expected
    assert epoch.end - epoch.start == timedelta(hours=4)
    assert epoch.start_iso == epoch.start.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_epoch_id_round_trips_and_rejects_off_grid() -> None:
    epoch = epoch_from_id("2026-11-25T16-00-00")
    assert epoch.start == datetime(2026, 11, 25, 16, tzinfo=UTC)
    assert epoch.next().id == "2026-11-25T20-00-00"
    assert epoch.previous().id == "2026-11-25T12-00-00"
    for bad in ("2026-11-25T17-00-00", "2026-11-25 16:00", "yesterday", ""):
        with pytest.raises(EpochError):
            epoch_from_id(bad)


@pytest.mark.parametrize(
    "other",
    ["2026-11-25T16-0-0", "2026-11-5T16-00-00", "\u0662026-11-25T16-00-00", "0004-01-01T00-00-00"],
)
def test_an_id_written_otherwise_is_refused_not_taken_for_the_epoch(other) -> None:
    """strptime read each as an epoch, which then had two ids (a signed id the signer
    compared in its own writing failed the signature)."""
    with pytest.raises(EpochError, match="not written as epoch ids are"):
        epoch_from_id(other)


def test_reveal_round_is_the_first_round_at_or_after_the_start() -> None:
    start = datetime(2026, 11, 25, 16, tzinfo=UTC)
    number = reveal_round(start)
    assert round_time(number) >= start
    assert round_time(number) - start < timedelta(seconds=3)
    assert round_time(number - 1) < start
    # On a round boundary the contract formula gives the round published at that instant + 1.
    on_boundary = datetime.fromtimestamp(QUICKNET_GENESIS + 300, tz=UTC)
    assert reveal_round(on_boundary) == 101


def test_bad_instants_and_grids_are_refused() -> None:
    with pytest.raises(EpochError, match="ISO-8601"):
        parse_instant("tomorrow")
    with pytest.raises(EpochError, match="divide 24"):
        epoch_at(datetime.now(UTC), hours=5)
