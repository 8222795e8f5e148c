"""The in-process rate-limit counters (`memory://`): exact fixed windows, no thread per hit,
and expired counters dropped so memory stays bounded by the keys of one window."""

from __future__ import annotations

import threading
import types

import pytest
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

import signer.ratelimit as ratelimit
from signer.ratelimit import SweptMemoryStorage, storage_uri


@pytest.fixture
def clock(monkeypatch):
    """signer.ratelimit's time.time, moved by hand."""
    now = {"t": 1_000_000.0}
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(time=lambda: now["t"]))
    return now


def test_a_fixed_window_counts_exactly_and_resets_when_it_ends(clock):
    strategy = FixedWindowRateLimiter(SweptMemoryStorage())
    item = parse("3/minute")
    assert [strategy.hit(item, "k") for _ in range(5)] == [True, True, True, False, False]
    clock["t"] += 61
    assert strategy.hit(item, "k")


def test_hits_start_no_thread(clock):
    storage = SweptMemoryStorage()
    before = threading.active_count()
    for n in range(2000):
        storage.incr(f"key-{n % 300}", 60)
        clock["t"] += 0.02
    assert threading.active_count() == before


def test_expired_counters_are_swept_without_being_read_again(clock):
    storage = SweptMemoryStorage()
    for n in range(1000):
        storage.incr(f"once-{n}", 60)
    assert len(storage) == 1000
    clock["t"] += 61
    storage.incr("another", 60)
    assert len(storage) == 1


@pytest.mark.parametrize("setting", ["memory://", "memory:///"])
def test_the_memory_setting_opens_the_swept_storage(setting):
    assert isinstance(storage_from_string(storage_uri(setting)), SweptMemoryStorage)
    assert storage_uri("redis://127.0.0.1:6379") == "redis://127.0.0.1:6379"
