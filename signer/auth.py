"""Who is asking: timestamp window, sr25519 signature, then the hotkey's role in the metagraph.

The signed message formats are the ones existing subnet 46 clients already send, so they
stay byte-for-byte as docs/design.md lists them.
"""

from __future__ import annotations

import binascii
import math
from functools import lru_cache

from bittensor_core import Keypair

from signer.errors import SignerError
from signer.metagraph import Neuron, Snapshot

MINER_ACCESS = "s3:data:access:{coldkey}:{hotkey}:{timestamp}"
VALIDATOR_ACCESS = "s3:validator:access:{timestamp}"
VALIDATOR_UPLOAD = "s3:validator:upload:{timestamp}"
MINER_LIST = "s3:validator:miner:{miner_hotkey}:{timestamp}"
MINER_FILES = "s3:validator:files:{miner_hotkey}:{hotkey}:{timestamp}"
MINER_STATUS = "zipcode:status:{epoch_id}:{timestamp}"
MINER_FILE = "s3:data:file:{hotkey}:{job_id}:{filename}:{timestamp}"

SIGNATURE_BYTES = 64
KEYS_KEPT = 4096
"""Public keys kept decoded: more than the subnet's 256 neurons, whatever the churn."""


def check_timestamp(timestamp: float, now: float, max_age: int, max_ahead: int) -> None:
    """Refuse replays of old requests and requests dated ahead of the server clock. The
    seconds a refusal names are rounded up, so they always exceed the limit it names."""
    if timestamp < now - max_age:
        raise SignerError(
            401,
            "stale_timestamp",
            f"timestamp is {math.ceil(now - timestamp)} s old; at most {max_age} s is accepted "
            "(sign each request with the current unix time; if you do, the client's clock "
            "is behind: sync it, e.g. with NTP)",
        )
    if timestamp > now + max_ahead:
        raise SignerError(
            401,
            "future_timestamp",
            f"timestamp is {math.ceil(timestamp - now)} s ahead of the server clock; at most "
            f"{max_ahead} s is accepted (check the client's clock)",
        )


def decode_signature(text: str) -> bytes:
    """Hex, with or without 0x, of exactly 64 bytes; anything else is a bad signature."""
    digits = text.strip()
    if digits[:2] in ("0x", "0X"):
        digits = digits[2:]
    try:
        raw = binascii.unhexlify(digits)
    except (binascii.Error, ValueError):
        raise SignerError(
            401, "invalid_signature", "signature is not hexadecimal (sr25519, 64 bytes as hex)"
        ) from None
    if len(raw) != SIGNATURE_BYTES:
        raise SignerError(
            401,
            "invalid_signature",
            f"signature must be {SIGNATURE_BYTES} bytes (128 hex digits), got {len(raw)} bytes",
        )
    return raw


@lru_cache(maxsize=KEYS_KEPT)
def public_key(hotkey: str) -> Keypair:
    """The hotkey's public key, decoded from SS58 once while it is among the KEYS_KEPT most
    recently used rather than on every request. ValueError if not SS58."""
    return Keypair(ss58_address=hotkey)


def verifies(hotkey: str, message: bytes, signature: bytes) -> bool:
    """Whether `signature` is the hotkey's sr25519 signature of `message` (bittensor_core)."""
    try:
        return bool(public_key(hotkey).verify(message, signature))
    except ValueError:
        return False


def verify_signature(hotkey: str, message: str, signature: str) -> None:
    """The hotkey's sr25519 signature over the UTF-8 message, checked by bittensor_core."""
    raw = decode_signature(signature)
    valid = verifies(hotkey, message.encode("utf-8"), raw)
    if not valid:
        raise SignerError(
            401,
            "invalid_signature",
            "signature does not match the hotkey and the signed message "
            "(see this endpoint's message format in /docs)",
        )


def registered(snapshot: Snapshot, hotkey: str) -> Neuron:
    """The neuron of `hotkey`, the one that signed the request; the refusal names it, as a
    validator's request also names a `miner_hotkey` (which is never required to be
    registered: an unregistered miner lists nothing)."""
    neuron = snapshot.neurons.get(hotkey)
    if neuron is None:
        raise SignerError(
            403,
            "not_registered",
            f"hotkey {hotkey}, which signed this request, is not registered on netuid "
            f"{snapshot.netuid} (metagraph block {snapshot.block})",
        )
    return neuron


def require_miner(snapshot: Snapshot, hotkey: str, coldkey: str | None) -> Neuron:
    """A registered hotkey whose coldkey, when the request names one, is that one."""
    neuron = registered(snapshot, hotkey)
    if coldkey is not None and neuron.coldkey != coldkey:
        raise SignerError(
            403,
            "coldkey_mismatch",
            "coldkey is not the coldkey that owns this hotkey in the metagraph",
        )
    return neuron


def require_validator(
    snapshot: Snapshot, hotkey: str, min_stake: float, rule: str = "alpha-above"
) -> Neuron:
    """A registered hotkey with a validator permit and enough stake under `rule` (one of
    SIGNER_VALIDATOR_STAKE_RULE's values: which stake, and whether strictly above)."""
    neuron = registered(snapshot, hotkey)
    if not neuron.validator_permit:
        raise SignerError(403, "not_a_validator", "hotkey has no validator permit")
    measure, _, comparison = rule.partition("-")
    stake = neuron.stake if measure == "alpha" else neuron.total_stake
    strict = comparison == "above"
    if stake < min_stake or (strict and stake == min_stake):
        relation = "above" if strict else "at least"
        raise SignerError(
            403,
            "insufficient_stake",
            f"validator {measure} stake {stake:g} is not {relation} the minimum of "
            f"{min_stake:g} alpha",
        )
    return neuron
