"""Many registered miners from dev keys, for load tests and benchmarks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bittensor_core import Keypair


def miners(count: int, name: str = "miner") -> list[tuple[Keypair, Keypair]]:
    """(hotkey, coldkey) dev keypairs `//{name}/N` and `//{name}/N//cold`, N = 1..count."""
    return [
        (Keypair.create_from_uri(f"//{name}/{n}"), Keypair.create_from_uri(f"//{name}/{n}//cold"))
        for n in range(1, count + 1)
    ]


def snapshot(keys: list[tuple[Keypair, Keypair]]) -> dict[str, Any]:
    """A metagraph snapshot in the signer's file format of these miners, fetched just now."""
    return {
        "netuid": 46,
        "block": 7_000_000,
        "fetchedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "neurons": [
            {
                "uid": uid,
                "hotkey": hot.ss58_address,
                "coldkey": cold.ss58_address,
                "validatorPermit": False,
                "stake": 10.0,
            }
            for uid, (hot, cold) in enumerate(keys)
        ],
    }
