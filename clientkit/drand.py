"""Reading drand quicknet beacons from HTTP relays, the way any miner can.

Only verification needs this: sealing is offline. Relays are interchangeable; the BLS
signature is checked by decryption itself, so a lying relay cannot forge a reveal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import requests

from clientkit.bounded import read_bounded
from clientkit.epochs import QUICKNET_CHAIN_HASH, QUICKNET_GENESIS, QUICKNET_PERIOD
from clientkit.errors import ClientKitError, a_type
from clientkit.failures import failure
from clientkit.retry import seconds
from clientkit.urls import http_url
from envsettings import shown

QUICKNET_PUBLIC_KEY = (
    "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5"
    "776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a"
    "4bc09e76eae8991ef5ece45a"
)
DEFAULT_RELAYS = (
    "https://api.drand.sh",
    "https://api2.drand.sh",
    "https://api3.drand.sh",
    "https://drand.cloudflare.com",
)
RELAY_EXAMPLE = "'https://api.drand.sh'"

TIMEOUT = 5.0
"""Seconds a relay's one try waits for the connection, then for each piece of the answer
(`timeout=`; the assignment functions' and verify_epoch's `relay_timeout=`). A relay is not
tried again: the next one is asked."""
MAX_BEACON_BYTES = 64 * 1024
"""A beacon is about 300 bytes of JSON; a relay answering more than this is not read on."""


class BeaconUnavailable(ClientKitError):
    """No relay could give the round's signature (not yet published, or relays unreachable)."""


def chain_info() -> dict[str, object]:
    """What index.json publishes so that a client needs nothing else to verify."""
    return {
        "network": "quicknet",
        "chainHash": QUICKNET_CHAIN_HASH,
        "publicKey": QUICKNET_PUBLIC_KEY,
        "genesisTime": QUICKNET_GENESIS,
        "period": QUICKNET_PERIOD,
        "scheme": "bls-unchained-g1-rfc9380",
        "relays": list(DEFAULT_RELAYS),
    }


def relay_list(relays: str | Sequence[str]) -> list[str]:
    """The relays' URLs, without their trailing /; one URL given alone is a list of one, not
    of its characters. Each must be an http(s) URL with a host, and there must be one: a
    relay without its scheme, or none at all, read as relays that are down (NotOpenYet,
    which a miner retries), so either is a ValueError naming it; neither a URL nor a list of
    them (None, a setting left unset) a TypeError."""
    if not isinstance(relays, str | Iterable):
        raise TypeError(
            f"relays is a drand relay's URL, or a list of them, such as [{RELAY_EXAMPLE}]; got "
            f"{a_type(relays)} (leave relays unset for the public ones)"
        )
    given = [relays] if isinstance(relays, str) else list(relays)
    if not given:
        raise ValueError(
            f"relays names no drand relay: give at least one URL, such as {RELAY_EXAMPLE} "
            "(or leave relays unset for the public ones)"
        )
    return [http_url(relay, "the drand relay (relays)", RELAY_EXAMPLE) for relay in given]


def relay_seconds(timeout: object, name: str) -> float:
    """`timeout` as seconds each relay is given, or a TypeError or ValueError naming it,
    `name` (`relay_timeout`), before any request: urllib3 refused one that is no number of
    seconds over 0 only when the first relay was asked, in its own words."""
    return seconds(timeout, name, "seconds each drand relay is given", "5")


def fetch_signature(
    round_number: int,
    relays: str | Sequence[str] = DEFAULT_RELAYS,
    chain_hash: str = QUICKNET_CHAIN_HASH,
    timeout: float = TIMEOUT,
) -> str:
    """The round's signature from the first relay that has it; each relay is asked once,
    waiting `timeout` seconds for the connection, then for each piece of the answer. A
    relay that is no http(s) URL is refused before any is asked (relay_list), and so is a
    `timeout` that is no number of seconds over 0 (relay_seconds)."""
    timeout = relay_seconds(timeout, "timeout")
    problems: list[str] = []
    for relay in relay_list(relays):
        url = f"{relay}/{chain_hash}/public/{round_number}"
        try:
            with requests.get(url, timeout=timeout, stream=True) as response:
                status = response.status_code
                answer = read_bounded(response, MAX_BEACON_BYTES) if status == 200 else b""
        except requests.RequestException as exc:
            problems.append(f"{shown(relay)}: {failure(exc, timeout, url)}")
            continue
        if status != 200:
            problems.append(f"{shown(relay)}: HTTP {status}")
            continue
        if answer is None:
            problems.append(f"{shown(relay)}: an answer over {MAX_BEACON_BYTES} bytes, not read")
            continue
        try:
            body = json.loads(answer)
            signature = str(body["signature"])
            if int(body["round"]) != round_number:
                raise ValueError("wrong round")
        except (ValueError, KeyError, TypeError, RecursionError):
            problems.append(f"{shown(relay)}: not a drand beacon")
            continue
        return signature
    raise BeaconUnavailable(f"round {round_number} not available: " + "; ".join(problems))
