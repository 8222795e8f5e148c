"""Asking the signer for S3 credentials, signed by the hotkey the way the signer checks.

Each endpoint has its own message (docs/design.md, "Signer HTTP API"); the signature is the
hotkey's sr25519 signature over its UTF-8 bytes, hex-encoded, with the current unix time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import requests
from bittensor_core import CRYPTO_SR25519, Keypair, ss58_decode

from clientkit.bounded import read_retryable
from clientkit.epochs import epoch_id_text
from clientkit.errors import ClientKitError, a_type
from clientkit.failures import failure
from clientkit.retry import Backoff, checked, session_of
from clientkit.urls import http_url
from envsettings import shown

MAX_ANSWER_BYTES = 16 * 1024 * 1024
"""The signer's largest answer, a thousand file URLs with keys at their longest, is a few
MB of JSON; anything past this is not read."""
SIGNER_EXAMPLE = (
    "'https://signer.example.org' ('http://127.0.0.1:8000' for a signer on this machine)"
)


class SignerError(ClientKitError):
    """The signer said no (or could not be reached): its status, error code and detail."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{code} (HTTP {status}): {detail}" if status else f"{code}: {detail}")
        self.status, self.code, self.detail = status, code, detail


class Wallet(Protocol):
    """What holds a hotkey keypair, as a bittensor Wallet does (`wallet.hotkey`)."""

    @property
    def hotkey(self) -> Keypair: ...


class Addressed(Protocol):
    """A key that has an SS58 address: a Keypair, a Wallet's `coldkeypub`."""

    @property
    def ss58_address(self) -> str: ...


def signing_keypair(key: Keypair | Wallet) -> Keypair:
    """The sr25519 Keypair that signs for `key` (itself, or a wallet's hotkey), refused here
    if it cannot sign as the signer checks, rather than at the first request."""
    keypair = getattr(key, "hotkey", key)
    if not isinstance(keypair, Keypair):
        given = type(key).__name__
        if keypair is not key:
            given += f" whose hotkey is {a_type(keypair)}"
        raise TypeError(
            f"SignerClient signs with a bittensor_core Keypair, or a wallet whose hotkey is one; "
            f"got {given} (for a mnemonic or a seed, pass Keypair.create_from_mnemonic(...) "
            "or Keypair.create_from_seed(...))"
        )
    if keypair.crypto_type != CRYPTO_SR25519:
        raise ValueError(
            f"the keypair of {keypair.ss58_address} is not sr25519 (crypto_type "
            f"{keypair.crypto_type}): the signer checks a hotkey's sr25519 signature"
        )
    try:
        keypair.sign(b"clientkit: can this keypair sign?")
    except ValueError as exc:
        raise ValueError(
            f"the keypair of {keypair.ss58_address} cannot sign ({exc}): it holds only the "
            "public key; load the hotkey with its secret (its mnemonic, seed or wallet file)"
        ) from exc
    return keypair


EXAMPLE_ADDRESS = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"  # //Bob's


def address_of(key: str | Addressed, name: str) -> str:
    """The SS58 address `key` is, or has (`.ss58_address`); `name` is the argument's. One
    that does not decode (a pasted hotkey with a newline, a letter missing) is a ValueError
    before any request: a folder named after it lists nothing, as an idle miner's does."""
    address = key if isinstance(key, str) else getattr(key, "ss58_address", None)
    if not isinstance(address, str):
        raise TypeError(
            f"{name} is an SS58 address, or a keypair that has one (.ss58_address); got "
            f"{a_type(key)}"
        )
    try:
        ss58_decode(address)
    except ValueError:
        raise ValueError(
            f"{name} {address!r} is not an SS58 address (such as {EXAMPLE_ADDRESS!r})"
        ) from None
    return address


def token_text(token: object, method: str) -> str:
    """A continuation token as sent: anything but a str, such as a Page given for its
    next_token, is refused naming the argument rather than failing in json."""
    if not isinstance(token, str):
        hint = " (pass page.next_token)" if hasattr(token, "next_token") else ""
        raise TypeError(
            f"{method}'s continuation_token is a listing page's next_token, a str; got "
            f"{a_type(token)}{hint}"
        )
    return token


def keys_of(keys: object, method: str) -> list[str]:
    """`keys` as a list of str, or a TypeError naming `method` and saying what to pass
    instead: one key (a str) would be taken for a list of one-letter keys, and list_miner's
    ObjectInfo (a listed object: its `key` and `size`) failed in json."""
    if isinstance(keys, str):
        raise TypeError(f"{method} takes a list of keys, not one key (a str), {keys!r}: pass [key]")
    if not isinstance(keys, Iterable):
        raise TypeError(f"{method} takes a list of keys (str), not {a_type(keys)}")
    listed = list(keys)
    for key in listed:
        if isinstance(getattr(key, "key", None), str) and hasattr(key, "size"):
            raise TypeError(
                f"{method} takes keys (str), not the ObjectInfo that list_miner yields: "
                "pass [info.key for info in ...]"
            )
        if not isinstance(key, str):
            raise TypeError(f"{method} takes keys (str), not {key!r} ({type(key).__name__})")
    return listed


class SignerClient:
    """One hotkey talking to one signer; `clock` gives unix seconds (the signed timestamp).

    A request the signer answers with 429 or 503 and `Retry-After` (rate limit, metagraph
    not ready) is sent again after that wait plus jitter, signed afresh; see clientkit.retry.
    `keypair` is the hotkey's Keypair, or a bittensor Wallet (its hotkey signs).
    """

    def __init__(
        self,
        base_url: str,
        keypair: Keypair | Wallet,
        *,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
    ) -> None:
        self.base_url = http_url(base_url, "the signer URL", SIGNER_EXAMPLE)
        self.keypair = signing_keypair(keypair)
        self.timeout, self.backoff = checked(timeout, backoff)
        self.session = session_of(session) or requests.Session()
        if not callable(clock):
            raise TypeError(
                f"clock is a function giving unix seconds, such as time.time; got "
                f"{a_type(clock)} (pass the function, not what it gave)"
            )
        self.clock = clock

    @property
    def hotkey(self) -> str:
        return self.keypair.ss58_address

    def _signed(self, message: Callable[[int], str]) -> dict[str, Any]:
        """hotkey, timestamp and the signature over `message(timestamp)`, dated now."""
        now = self.clock()
        if isinstance(now, bool) or not isinstance(now, int | float):
            raise TypeError(
                f"clock gives unix seconds, a number, as time.time does; it gave {a_type(now)}"
            )
        timestamp = int(now)
        signature = self.keypair.sign(message(timestamp).encode("utf-8")).hex()
        return {"hotkey": self.hotkey, "timestamp": timestamp, "signature": signature}

    def _post(
        self, path: str, message: Callable[[int], str], fields: dict[str, Any]
    ) -> dict[str, Any]:
        """POST `fields` signed with `message`; each retry is signed with a new timestamp."""
        url, named = f"{self.base_url}{path}", f"{shown(self.base_url)}{path}"
        texts: list[bytes | None] = []

        def attempt() -> requests.Response:
            body = {**fields, **self._signed(message)}
            # Never redirected: a 307 would carry the signed body to wherever it points.
            response = self.session.post(
                url, json=body, timeout=self.timeout, allow_redirects=False, stream=True
            )
            # The answer is read inside the try: one cut mid-body is asked for again.
            with response:
                texts.append(read_retryable(response, MAX_ANSWER_BYTES))
            return response

        try:
            response = self.backoff.run(attempt)
        except requests.RequestException as exc:
            raise SignerError(
                0, "unreachable", f"{named}: {failure(exc, self.timeout, url)}"
            ) from exc
        text = texts[-1]
        if text is None:
            raise SignerError(
                response.status_code,
                "unexpected_response",
                f"{named} answered more than {MAX_ANSWER_BYTES} bytes: not read",
            )
        try:
            answer = json.loads(text)
        except (ValueError, RecursionError):
            answer = None
        if isinstance(answer, dict) and "error" in answer:
            detail = str(answer.get("detail", ""))
            if response.status_code == 404 and answer["error"] == "not_found":
                # No route matched, and every endpoint the kit asks exists: the base URL
                # has a path too many (an endpoint's URL given for it, say).
                detail += (
                    f": {named} is not the signer's: give SignerClient the signer's base URL "
                    "(such as 'https://signer.example.org'), without an endpoint's path"
                )
            raise SignerError(response.status_code, str(answer["error"]), detail)
        if response.status_code == 200 and isinstance(answer, dict):
            return answer
        if response.is_redirect:
            where = shown(response.headers.get("Location", "elsewhere"))
            raise SignerError(
                response.status_code,
                "redirected",
                f"{named} redirected to {where}, not followed (it would carry the signed body "
                "there): if that is the signer, give its base URL instead",
            )
        kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "no Content-Type"
        raise SignerError(
            response.status_code,
            "unexpected_response",
            f"{named} answered {kind}, not the signer's JSON: is {shown(self.base_url)} the "
            "signer (not the CDN or the bucket), and up behind any proxy?",
        )

    def folder_access(
        self,
        coldkey: str | Addressed,
        continuation_token: str | None = None,
        epoch_id: str | None = None,
    ) -> dict[str, Any]:
        """Miner: a presigned POST for data/hotkey=<hotkey>/epoch=<current>/, and `list_url`,
        one page of data/hotkey=<hotkey>/, or of its epoch=<epoch_id>/ folder only if
        `epoch_id` is given (from `continuation_token`, the previous page's next_token, if
        given; clientkit.storage.list_mine reads every page).

        `coldkey` is the SS58 address of the coldkey that owns this hotkey on the subnet (or
        a key that has it: `wallet.coldkeypub`).
        """
        address = address_of(coldkey, "coldkey")
        fields: dict[str, Any] = {"coldkey": address}
        if continuation_token is not None:
            fields["continuation_token"] = token_text(continuation_token, "folder_access")
        if epoch_id is not None:
            fields["epoch_id"] = epoch_id_text(
                epoch_id, "folder_access", "a folder_access answer's 'epoch_id'"
            )
        return self._post(
            "/get-folder-access",
            lambda t: f"s3:data:access:{address}:{self.hotkey}:{t}",
            fields,
        )

    def validator_access(self) -> dict[str, Any]:
        """Validator: list URLs of data/ and a presigned POST for this epoch's results."""
        return self._post("/get-validator-access", lambda t: f"s3:validator:access:{t}", {})

    def validator_upload(self, epoch_id: str) -> dict[str, Any]:
        """Validator: a presigned POST for validators/<hotkey>/epoch=<epoch_id>/."""
        epoch = epoch_id_text(epoch_id, "validator_upload", "validator_access()['epoch_id']")
        return self._post(
            "/api/v1/s3-access/validator-upload",
            lambda t: f"s3:validator:upload:{t}",
            {"epochId": epoch},
        )

    def miner_list(
        self, miner_hotkey: str | Addressed, continuation_token: str | None = None
    ) -> dict[str, Any]:
        """Validator: a presigned URL for one page of data/hotkey=<miner_hotkey>/."""
        miner = address_of(miner_hotkey, "miner_hotkey")
        fields: dict[str, Any] = {"miner_hotkey": miner}
        if continuation_token is not None:
            fields["continuation_token"] = token_text(continuation_token, "miner_list")
        return self._post("/get-miner-list", lambda t: f"s3:validator:miner:{miner}:{t}", fields)

    def file_urls(self, miner_hotkey: str | Addressed, keys: list[str]) -> dict[str, Any]:
        """Validator: presigned GETs for up to 1,000 keys of data/hotkey=<miner_hotkey>/
        (a list of str, or any iterable of them; keys_of refuses anything else)."""
        miner = address_of(miner_hotkey, "miner_hotkey")
        file_keys = keys_of(keys, "file_urls")
        return self._post(
            "/get-file-presigned-urls",
            lambda t: f"s3:validator:files:{miner}:{self.hotkey}:{t}",
            {"miner_hotkey": miner, "file_keys": file_keys},
        )
