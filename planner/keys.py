"""PLANNER_SECRET: how strong it must be, and the one slow step every key is derived through.

The published salt of each epoch is a function of the secret, so anyone can test a guessed
secret against it offline. Two things make that useless: a weak secret (a word repeated, a
short phrase) is refused before any work starts, and every key the planner uses (selection
streams, salts, nonces, audit keys, the state's encryption key) is derived from one master
key that costs a memory-hard scrypt computation to get from the secret. The planner pays it
once per run; an attacker pays it for every guess.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import secrets
from collections import Counter

from planner.errors import PlannerError

MIN_SECRET_LENGTH = 32
MIN_SECRET_BITS = 128
NGRAM = 4
KDF_SALT = b"s46-planner/master-key/v2"
# 2**16 x 128 x 8 bytes = 64 MiB of memory per derivation: see bench/RESULTS.md for its cost.
SCRYPT_N = 2**16
SCRYPT_R = 8
SCRYPT_P = 1
LEGACY_STATE_LABEL = b"s46-planner-state-key/v1"
GENERATE_HINT = "generate one with `planner new-secret`"


class SecretError(PlannerError, ValueError):
    """A missing or guessable secret; the message says how to make a good one."""


def new_secret() -> str:
    """A fresh secret: 32 random bytes as 64 hex characters (256 bits)."""
    return secrets.token_hex(32)


def estimated_bits(secret: str) -> float:
    """A conservative estimate of the secret's entropy in bits.

    Only characters that start a 4-character sequence not seen before in the secret count
    (a repeated word adds nothing), each worth the Shannon entropy of the secret's own
    character distribution. 64 random hex characters score about 230 bits; a word repeated
    four times, under 30.
    """
    if not secret:
        return 0.0
    counts = Counter(secret)
    per_char = sum(c / len(secret) * math.log2(len(secret) / c) for c in counts.values())
    seen: set[str] = set()
    novel = 0
    for i in range(max(1, len(secret) - NGRAM + 1)):
        gram = secret[i : i + NGRAM]
        if gram not in seen:
            seen.add(gram)
            novel += 1
    return novel * per_char


def check_strength(
    secret: str | None, name: str = "PLANNER_SECRET", needed_by: str = "planning"
) -> bytes:
    """The secret as bytes, or a SecretError saying what is wrong, what needs it (a missing
    one) and how to fix it."""
    if not secret:
        raise SecretError(
            f"{name} is not set; {needed_by} needs it and there is no default: {GENERATE_HINT}"
        )
    if len(secret) < MIN_SECRET_LENGTH:
        raise SecretError(
            f"{name} is too short ({len(secret)} characters; at least {MIN_SECRET_LENGTH} "
            f"random characters are required): {GENERATE_HINT}"
        )
    bits = estimated_bits(secret)
    if bits < MIN_SECRET_BITS:
        raise SecretError(
            f"{name} looks guessable (about {bits:.0f} bits of entropy, repeated or "
            f"predictable characters; at least {MIN_SECRET_BITS} are required): "
            f"{GENERATE_HINT}"
        )
    return secret.encode()


@functools.lru_cache(maxsize=4)
def master_key(secret: bytes) -> bytes:
    """The key everything else is derived from: scrypt(secret), computed once per process."""
    return hashlib.scrypt(
        secret,
        salt=KDF_SALT,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=256 * SCRYPT_N * SCRYPT_R,
        dklen=32,
    )


def legacy_state_key(secret: bytes) -> bytes:
    """The key planner states of format 1 were encrypted under (before the master key)."""
    return hmac.new(secret, LEGACY_STATE_LABEL, hashlib.sha256).digest()
