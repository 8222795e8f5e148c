"""The planner's published current.json, read from a local folder or a base URL.

The signer only relays it: the planner decides what is revealed and when. What the
signer adds is a check that the file really is the current epoch's, so a stale CDN copy
or a cron that has not run yet shows up as a clear 503 instead of last epoch's zipcodes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from signer.errors import SignerError

CURRENT = "current.json"
FETCH_TIMEOUT = 5.0


def current_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/{CURRENT}"


def read_current(location: str, is_url: bool) -> bytes:
    """The bytes of current.json, or 503 when there is none to read."""
    if is_url:
        try:
            response = requests.get(current_url(location), timeout=FETCH_TIMEOUT)
        except requests.RequestException:
            raise _unavailable("the published files could not be reached") from None
        if response.status_code == 404:
            raise _not_revealed("no current.json has been published yet")
        if response.status_code != 200:
            raise _unavailable(f"the published files answered HTTP {response.status_code}")
        return response.content
    try:
        return (Path(location) / CURRENT).read_bytes()
    except FileNotFoundError:
        raise _not_revealed("no current.json has been published yet") from None
    except OSError:
        raise _unavailable("the published folder cannot be read") from None


def current_assignment(body: bytes, epoch_id: str) -> dict[str, Any]:
    """Decode current.json and insist that it is the assignment of `epoch_id`."""
    try:
        document = json.loads(body)
    except ValueError:
        raise _unavailable("the published current.json is not valid JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("epochId"), str):
        raise _unavailable("the published current.json has no epochId")
    if document["epochId"] != epoch_id:
        raise _not_revealed(
            f"epoch {epoch_id} is not revealed yet (current.json still holds {document['epochId']})"
        )
    return document


def _not_revealed(detail: str) -> SignerError:
    return SignerError(503, "not_revealed", detail, headers={"Retry-After": "10"})


def _unavailable(detail: str) -> SignerError:
    return SignerError(503, "assignment_unavailable", detail, headers={"Retry-After": "30"})


def read_published(location: str, is_url: bool, name: str) -> bytes | None:
    """The bytes of a published file such as `epochs/{id}.json`, or None when it is absent."""
    if is_url:
        try:
            response = requests.get(f"{location.rstrip('/')}/{name}", timeout=FETCH_TIMEOUT)
        except requests.RequestException:
            raise _unavailable("the published files could not be reached") from None
        if response.status_code in (403, 404):
            return None
        if response.status_code != 200:
            raise _unavailable(f"the published files answered HTTP {response.status_code}")
        return response.content
    try:
        return (Path(location) / name).read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        raise _unavailable("the published folder cannot be read") from None
