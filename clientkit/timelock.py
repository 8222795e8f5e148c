"""Sealing with drand quicknet timelock, and the public commitment to what was sealed.

A sealed file can be opened by anyone once quicknet publishes its round's signature, and by
nobody before; the commitment lets anyone check afterwards that the revealed file is the
one that was sealed, byte for byte. The planner seals with these functions and every client
opens and checks with them, so both sides read the same bytes the same way.
"""

from __future__ import annotations

import hashlib
import re

import bittensor_core

from clientkit.errors import ClientKitError

SIGNATURE_HEX = re.compile(r"^(0x)?[0-9a-fA-F]{96}$")


class SealError(ClientKitError, ValueError):
    """A sealed file that cannot be opened with the signature given."""


def commitment(plaintext: bytes) -> str:
    """`sha256:<hex>` of the exact bytes later published under epochs/."""
    return "sha256:" + hashlib.sha256(plaintext).hexdigest()


def seal(plaintext: bytes, round_number: int) -> bytes:
    """Encrypt to a quicknet round; needs no network (identity-based encryption)."""
    ciphertext, _ = bittensor_core.encrypt_at_round(plaintext, round_number)
    return bytes(ciphertext)


def unseal(ciphertext: bytes, signature_hex: str) -> bytes:
    """Decrypt with the round's BLS signature; a wrong signature or damaged file fails."""
    if not SIGNATURE_HEX.match(signature_hex or ""):
        raise SealError("a quicknet signature is 48 bytes of hex")
    try:
        return bytes(
            bittensor_core.decrypt_with_signature(ciphertext, signature_hex.removeprefix("0x"))
        )
    except (ValueError, TypeError) as exc:
        raise SealError(f"cannot open the sealed file: {exc}") from exc
