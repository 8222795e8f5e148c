"""PLANNER_SECRET: weak ones refused, every key behind scrypt, format-1 states converted."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from planner import assignment, keys, state
from planner.cli import Context, cli
from planner.config import Settings
from planner.store import LocalStore

from conftest import NOW, REPO, SECRET


@pytest.mark.parametrize(
    "weak",
    [
        "subnet46subnet46subnet46subnet46",
        "a" * 64,
        "0123456789" * 4,
        "password-password-password-password",
    ],
)
def test_guessable_secrets_are_refused_with_how_to_make_one(weak: str) -> None:
    with pytest.raises(keys.SecretError) as caught:
        keys.check_strength(weak)
    message = str(caught.value)
    assert "PLANNER_SECRET looks guessable" in message
    assert "planner new-secret" in message
    assert weak not in message


def test_random_secrets_pass() -> None:
    for _ in range(20):
        secret = keys.new_secret()
        assert keys.check_strength(secret) == secret.encode()


def test_the_master_key_is_scrypt_of_the_secret() -> None:
    master = keys.master_key(SECRET)
    assert master == hashlib.scrypt(
        SECRET,
        salt=keys.KDF_SALT,
        n=keys.SCRYPT_N,
        r=keys.SCRYPT_R,
        p=keys.SCRYPT_P,
        maxmem=2**30,
        dklen=32,
    )
    assert keys.SCRYPT_N * keys.SCRYPT_R * 128 >= 64 * 2**20, "memory-hard: 64 MiB a guess"
    assert master != keys.master_key(keys.new_secret().encode())


def test_the_published_salt_is_derived_through_the_master_key(tmp_path, monkeypatch) -> None:
    """Testing a guessed secret against a salt costs a scrypt, not one HMAC."""
    for name in list(os.environ):
        if name.startswith(("PLANNER_", "SPACES_")):
            monkeypatch.delenv(name)
    env = {
        "PLANNER_DATA": str(REPO / "data/zipcodes.csv"),
        "PLANNER_PRIORITIES": str(REPO / "data/state_priorities.txt"),
        "PLANNER_STATE": str(tmp_path / "state"),
        "PLANNER_PUBLISHED": str(tmp_path / "published"),
        "PLANNER_SECRET": SECRET.decode(),
        "PLANNER_DAYS": "1",
    }
    result = CliRunner().invoke(
        cli, ["tick", "--now", NOW.isoformat()], obj=Context(Settings.from_env(env))
    )
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "published/current.json").read_bytes())
    epoch_id = document["epochId"]
    assert document["salt"] == assignment.derive(keys.master_key(SECRET), "salt", epoch_id, 32)
    assert document["salt"] != assignment.derive(SECRET, "salt", epoch_id, 32)


def _legacy_blob(plain: state.PlannerState, secret: bytes) -> bytes:
    """A state file as planners before the master key wrote it (format 1)."""
    nonce = os.urandom(12)
    payload = gzip.compress(json.dumps(plain.to_json()).encode())
    key = hmac.new(secret, b"s46-planner-state-key/v1", hashlib.sha256).digest()
    return b"S46STATE1" + nonce + AESGCM(key).encrypt(nonce, payload, b"S46STATE1")


def test_a_format_1_state_is_read_and_rewritten_in_format_2(tmp_path) -> None:
    store = LocalStore(tmp_path)
    before = state.PlannerState(last_assigned={"07001": 1764000000}, dataset_sha256="abc")
    blob = _legacy_blob(before, SECRET)
    store.put(state.STATE_KEY, blob, content_type=state.CONTENT_TYPE, cache_control="no-store")
    master = keys.master_key(SECRET)

    with pytest.raises(state.StateError, match="format 1"):
        state.load(store, master)
    with pytest.raises(state.StateError, match="cannot be opened"):
        state.load(store, master, keys.legacy_state_key(keys.new_secret().encode()))
    loaded = state.load(store, master, keys.legacy_state_key(SECRET))
    assert loaded == before
    blob = store.get(state.STATE_KEY)
    assert blob is not None and blob.startswith(b"S46STATE2")
    assert state.load(store, master) == before
