"""Sealing with drand quicknet timelock, and the public commitment to what was sealed.

A sealed file can be opened by anyone once quicknet publishes its round's signature, and by
nobody before; the commitment lets anyone check afterwards that the revealed file is the
one that was sealed, byte for byte.
"""

from __future__ import annotations

import ctypes
import hashlib
import multiprocessing
import os
import re
import signal
import sys
from concurrent.futures import Future, ProcessPoolExecutor

import bittensor_core

SIGNATURE_HEX = re.compile(r"^(0x)?[0-9a-fA-F]{96}$")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class SealError(ValueError):
    """A sealed file that cannot be opened with the signature given."""


def commitment(plaintext: bytes) -> str:
    """`sha256:<hex>` of the exact bytes later published under epochs/."""
    return "sha256:" + hashlib.sha256(plaintext).hexdigest()


def seal(plaintext: bytes, round_number: int) -> bytes:
    """Encrypt to a quicknet round; needs no network (identity-based encryption)."""
    ciphertext, _ = bittensor_core.encrypt_at_round(plaintext, round_number)
    return bytes(ciphertext)


class Sealer:
    """Seals on every core when there are many epochs (each seal costs a pairing, ~3 ms).

    Work is submitted as soon as an epoch is chosen, so sealing overlaps selection.
    """

    def __init__(self, parallel: bool) -> None:
        self._pool: ProcessPoolExecutor | None = None
        if parallel:
            workers = max(1, min(os.cpu_count() or 1, 8))
            self._pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_worker_setup,
                initargs=(os.getpid(),),
            )

    def submit(self, plaintext: bytes, round_number: int) -> Future[bytes]:
        if self._pool is not None:
            return self._pool.submit(seal, plaintext, round_number)
        done: Future[bytes] = Future()
        done.set_result(seal(plaintext, round_number))
        return done

    def __enter__(self) -> Sealer:
        return self

    def __exit__(self, *exc: object) -> None:
        """On any exception too (Ctrl-C included): queued work is cancelled, workers end."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


def _worker_setup(parent: int) -> None:
    """A worker leaves Ctrl-C (sent to the whole process group) to its parent, which shuts
    the pool down, and dies with the parent when that is stopped outright (SIGTERM from
    cron or a shell, SIGKILL), instead of waiting forever on a queue nobody feeds."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


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
