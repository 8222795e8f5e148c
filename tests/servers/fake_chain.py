"""A stand-in for the chain: metagraph objects shaped like bittensor's, from dev keypairs.

The tests never reach a chain; `signer sync-metagraph` and the refresher take these instead
of what `bittensor.Subtensor(network).subnets.metagraph(netuid)` returns.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import bittensor

from servers.signer_client import address

DEMO_METAGRAPH = Path(__file__).resolve().parents[2] / "data" / "metagraph.demo.json"


def fake_metagraph(netuid: int = 46, block: int = 7000000) -> SimpleNamespace:
    """Alice (validator, 61234.5 total stake, half of it alpha) and Eve (miner, 10 total, 5
    alpha) at `block`."""

    def neuron(uid: int, hotkey: str, coldkey: str, permit: bool, stake: float):
        return SimpleNamespace(
            uid=uid,
            hotkey=address(hotkey),
            coldkey=address(coldkey),
            validator_permit=permit,
            total_stake=bittensor.Balance.from_alpha(stake, netuid),
            alpha_stake=bittensor.Balance.from_alpha(stake / 2, netuid),
        )

    return SimpleNamespace(
        netuid=netuid,
        block=block,
        neurons=[
            neuron(0, "//Alice", "//Alice//stash", True, 61234.5),
            neuron(1, "//Eve", "//Eve//stash", False, 10),
        ],
    )
