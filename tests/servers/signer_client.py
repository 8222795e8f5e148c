"""Request bodies signed like real miner and validator clients do, with dev keypairs.

The messages are spelled out here rather than imported from `signer.auth`, so a wrong
format in the signer fails the tests instead of agreeing with itself.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from functools import cache

from bittensor_core import Keypair

# 2026-11-25T17:00:00Z: one hour into epoch 2026-11-25T16-00-00 (ends 20:00).
NOW = 1795626000
EPOCH = "2026-11-25T16-00-00"


@cache
def keypair(uri: str) -> Keypair:
    return Keypair.create_from_uri(uri)


def address(uri: str) -> str:
    return keypair(uri).ss58_address


def sign(uri: str, message: str) -> str:
    return keypair(uri).sign(message.encode("utf-8")).hex()


def folder_access(
    hotkey: str = "//Bob",
    coldkey: str = "//Bob//stash",
    timestamp: int = NOW,
    signer: str | None = None,
    message: str | None = None,
) -> dict:
    hot, cold = address(hotkey), address(coldkey)
    text = message or f"s3:data:access:{cold}:{hot}:{timestamp}"
    return {
        "coldkey": cold,
        "hotkey": hot,
        "timestamp": timestamp,
        "signature": sign(signer or hotkey, text),
    }


def validator_access(
    hotkey: str = "//Alice",
    timestamp: int = NOW,
    signer: str | None = None,
    message: str | None = None,
) -> dict:
    text = message or f"s3:validator:access:{timestamp}"
    return {
        "hotkey": address(hotkey),
        "timestamp": timestamp,
        "signature": sign(signer or hotkey, text),
    }


def validator_upload(
    hotkey: str = "//Alice",
    epoch_id: str = EPOCH,
    timestamp: int = NOW,
    signer: str | None = None,
    message: str | None = None,
) -> dict:
    text = message or f"s3:validator:upload:{timestamp}"
    return {
        "hotkey": address(hotkey),
        "timestamp": timestamp,
        "signature": sign(signer or hotkey, text),
        "epochId": epoch_id,
    }


def miner_list(
    hotkey: str = "//Alice",
    miner: str = "//Bob",
    token: str | None = None,
    timestamp: int = NOW,
    signer: str | None = None,
    message: str | None = None,
) -> dict:
    miner_hotkey = address(miner)
    text = message or f"s3:validator:miner:{miner_hotkey}:{timestamp}"
    body = {
        "hotkey": address(hotkey),
        "timestamp": timestamp,
        "signature": sign(signer or hotkey, text),
        "miner_hotkey": miner_hotkey,
    }
    if token is not None:
        body["continuation_token"] = token
    return body


def miner_files(
    hotkey: str = "//Alice",
    miner: str = "//Bob",
    keys: list[str] | None = None,
    timestamp: int = NOW,
    signer: str | None = None,
    message: str | None = None,
) -> dict:
    miner_hotkey = address(miner)
    validator = address(hotkey)
    text = message or f"s3:validator:files:{miner_hotkey}:{validator}:{timestamp}"
    return {
        "hotkey": validator,
        "timestamp": timestamp,
        "signature": sign(signer or hotkey, text),
        "miner_hotkey": miner_hotkey,
        "file_keys": keys
        if keys is not None
        else [f"data/hotkey={miner_hotkey}/epoch=2026-11-25T16-00-00/19103.json"],
    }


def file_upload(
    hotkey: str = "//Bob",
    job_id: str = "zillow-pa",
    filename: str = "data_20261125_170000_10.parquet",
    timestamp: int = NOW,
) -> dict:
    text = f"s3:data:file:{address(hotkey)}:{job_id}:{filename}:{timestamp}"
    return {
        "hotkey": address(hotkey),
        "timestamp": timestamp,
        "signature": sign(hotkey, text),
        "job_id": job_id,
        "filename": filename,
    }


def miner_status(
    nonce: str, hotkey: str = "//Bob", epoch_id: str = EPOCH, timestamp: int = NOW
) -> dict:
    return {
        "hotkey": address(hotkey),
        "timestamp": timestamp,
        "signature": sign(hotkey, f"zipcode:status:{epoch_id}:{timestamp}"),
        "epochId": epoch_id,
        "nonce": nonce,
        "status": "IN_PROGRESS",
    }


def tao_headers(uri: str, body: bytes, *, millis: int | None = None) -> dict[str, str]:
    """Headers signed as data-universe's TaoSigner signs: sha256(body).nonce.timestamp_ms,
    base64 (a fresh nonce each call; the clock now unless `millis` is given)."""
    timestamp = str(millis if millis is not None else round(time.time() * 1000))
    nonce = str(uuid.uuid4())
    message = f"{hashlib.sha256(body).hexdigest()}.{nonce}.{timestamp}"
    signature = keypair(uri).sign(message.encode("utf-8"))
    return {
        "X-Tao-Version": "2",
        "X-Tao-Timestamp": timestamp,
        "X-Tao-Nonce": nonce,
        "X-Tao-Signed-By": address(uri),
        "X-Tao-Signature": base64.b64encode(signature).decode("ascii"),
        "Content-Type": "application/json",
    }
