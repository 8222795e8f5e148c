"""The planner's published current.json, read from a local folder or a base URL.

The signer only relays it: the planner decides what is revealed and when. What the
signer adds is a check that the file really is the current epoch's, so a stale CDN copy
or a cron that has not run yet shows up as a clear 503 instead of last epoch's zipcodes,
and that its epochs are EPOCH_HOURS long, which /readyz reports too (a signer deployed
with the planner's length wrong is then not ready, rather than 503 on every assignment).
A published file that cannot be used (not JSON, nested too deeply for Python's parser, not
its epoch's) is the same 503, naming the file: the operator's to fix, not a 500.

From a base URL, requests never wait for the CDN: a background thread keeps the last good
copy, refreshing it every few seconds (at once when it no longer is the current epoch's),
and requests answer from that copy. A slow or hanging CDN then delays the copy, never a
worker. Earlier epochs' files never change once revealed, so each is fetched once and kept;
one the CDN says is absent is not asked for again for NOT_PUBLISHED_SECONDS, so a client
asking again and again for an epoch that has none does not make every request wait on a
fetch.
A file from the CDN is read up to MAX_ASSIGNMENT_BYTES, decompressed (clientkit.bounded):
whoever writes the published bucket must not choose how much memory every worker fills.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from clientkit.bounded import read_bounded
from clientkit.epochs import Epoch
from clientkit.layout import check_zipcodes, listed_epoch, parse_json
from signer.errors import SignerError

CURRENT = "current.json"
FETCH_TIMEOUT = 5.0
REFRESH_SECONDS = 10.0
MIN_GAP_SECONDS = 1.0
"""Between two fetches, even when requests ask for a fresh copy at an epoch's start."""
PAST_EPOCHS_KEPT = 64
"""Earlier epochs' assignments kept per worker: ten days of 4-hour epochs, a few MB."""
NOT_PUBLISHED_SECONDS = 30.0
"""How long the CDN's answer that an earlier epoch's file is absent is kept (by the
signer's clock): each request for such an epoch fetched it again, waiting on the CDN."""
MAX_ASSIGNMENT_BYTES = 1024 * 1024
"""The most read of an assignment from the CDN, decompressed: one is padded to 32 KiB with
the sample data (docs/formats.md); a gzip body inflating to gigabytes, sent to every
worker's refresher, filled their memory."""

log = logging.getLogger("signer")


def current_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/{CURRENT}"


def read_current(folder: str) -> bytes:
    """The bytes of current.json in a local folder, or 503 when there is none to read."""
    try:
        return (Path(folder) / CURRENT).read_bytes()
    except FileNotFoundError:
        raise _not_revealed("no current.json has been published yet") from None
    except OSError:
        raise _unavailable("the published folder cannot be read") from None


class CurrentCache:
    """The last good current.json from a base URL, refreshed by a background thread."""

    def __init__(
        self, base_url: str, interval: float = REFRESH_SECONDS, timeout: float = FETCH_TIMEOUT
    ) -> None:
        self.url = current_url(base_url)
        self.interval = interval
        self.timeout = timeout
        self._body: bytes | None = None
        self._refusal = _unavailable("the published current.json has not been fetched yet")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="published-refresher", daemon=True)

    def current(self) -> bytes:
        """The last good copy (never a network call), or 503 saying why there is none."""
        body = self._body
        if body is None:
            raise self._refusal
        return body

    def refresh_once(self) -> bool:
        """One fetch: True when a copy was stored. Failures keep the last good copy."""
        try:
            status, body = _fetch(self.url, self.timeout)
        except requests.RequestException as exc:
            return self._failed(
                _unavailable("the published files could not be reached"), type(exc).__name__
            )
        if status == 404:
            return self._failed(_not_revealed("no current.json has been published yet"), "HTTP 404")
        if status != 200:
            detail = _answered(status)
            return self._failed(_unavailable(detail), detail)
        if body is None:
            return self._failed(_too_large(CURRENT), f"over {MAX_ASSIGNMENT_BYTES} bytes")
        self._body = body
        return True

    def _failed(self, refusal: SignerError, reason: str) -> bool:
        self._refusal = refusal
        log.warning("fetching %s failed (%s); keeping the last good copy", self.url, reason)
        return False

    def wake(self) -> None:
        """Ask the thread for a fresh copy now (the copy is not the current epoch's)."""
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh_once()
            self._wake.wait(self.interval)
            self._wake.clear()
            time.sleep(MIN_GAP_SECONDS)


def _fetch(url: str, timeout: float) -> tuple[int, bytes | None]:
    """The status of a GET of `url` and, for a 200, its body (None past
    MAX_ASSIGNMENT_BYTES, decompressed: the rest is never read). A redirect is not followed:
    the planner's files are never one, and whoever configures the CDN must not point the
    signer's requests elsewhere (inside its network) and read the status in the 503."""
    with requests.get(url, timeout=timeout, stream=True, allow_redirects=False) as response:
        if response.status_code != 200:
            return response.status_code, None
        return 200, read_bounded(response, MAX_ASSIGNMENT_BYTES)


REDIRECT_HINT = "SIGNER_PUBLISHED must be the URL the files are at"


def _answered(status: int) -> str:
    """Why a fetch that answered `status` (neither 200 nor 404) gave no file."""
    detail = f"the published files answered HTTP {status}"
    if 300 <= status < 400:
        return f"{detail}, a redirect, not followed: {REDIRECT_HINT}"
    return detail


def _too_large(name: str) -> SignerError:
    return _unavailable(
        f"the published {name} is larger than {MAX_ASSIGNMENT_BYTES} bytes (decompressed), "
        "which no assignment is: not read"
    )


def current_assignment(body: bytes, epoch: Epoch) -> dict[str, Any]:
    """Decode current.json and insist that it is the assignment of `epoch`, the signer's
    current one, and of an epoch as long as the signer's (EPOCH_HOURS)."""
    document = _parsed(body, CURRENT)
    if not isinstance(document, dict) or not isinstance(document.get("epochId"), str):
        raise _unavailable("the published current.json has no epochId")
    _same_length(document, epoch.hours)
    if document["epochId"] != epoch.id:
        raise _not_revealed(
            f"epoch {epoch.id} is not revealed yet (current.json still holds {document['epochId']})"
        )
    _zipcodes_listed(document, CURRENT)
    return document


def _same_length(document: dict[str, Any], hours: int) -> None:
    """Refuse current.json when its epoch is not `hours` long: the signer's EPOCH_HOURS is
    not the planner's, so the epoch the signer awaits (or grants) is not one the plan has,
    and "not revealed yet" would name epochs that never come."""
    problem = length_problem(_described_epoch(document), hours)
    if problem is not None:
        raise _unavailable(problem)


def _described_epoch(document: dict[str, Any]) -> Epoch | None:
    """The epoch current.json describes by its own id, start and end. None for a file
    without them (written by hand, or before they were kept): it is only checked by its
    epochId."""
    try:
        return listed_epoch(document["epochId"], document["epochStart"], document["epochEnd"])
    except (KeyError, ValueError):
        return None


def length_problem(published: Epoch | None, hours: int) -> str | None:
    """What is wrong when the published epoch is not `hours` (EPOCH_HOURS) long, else None."""
    if published is None or published.hours == hours:
        return None
    return (
        f"the published epochs are {published.hours} hours long (current.json holds "
        f"{published.id}, {published.start_iso} to {published.end_iso}) but this signer's "
        f"EPOCH_HOURS is {hours}: set the signer's EPOCH_HOURS to {published.hours}, as the "
        "planner has it"
    )


def epoch_length(body: bytes | None, hours: int) -> dict[str, Any]:
    """/readyz's `epochLength`: the signer's EPOCH_HOURS, the length of the epoch in
    `body` (the current.json the signer has at hand; None when it has none) and the
    problem when the two differ. A file that says no length leaves it unknown."""
    published = None
    if body is not None:
        try:
            document = parse_json(body)
        except ValueError:
            document = None
        if isinstance(document, dict):
            published = _described_epoch(document)
    return {
        "hours": hours,
        "published": None if published is None else published.hours,
        "problem": length_problem(published, hours),
    }


def folder_problem(folder: str) -> str | None:
    """/readyz's `publishedProblem`: the SIGNER_PUBLISHED folder missing, or no folder. A
    mistyped folder answered every current assignment "no current.json has been published
    yet", as if the planner had not run; a folder without current.json is that, and ready."""
    path = Path(folder)
    if path.is_dir():
        return None
    what = "is not a folder" if path.exists() else "does not exist"
    return (
        f"the published folder {path.absolute()} (SIGNER_PUBLISHED) {what}: check the path, "
        "the planner's PLANNER_PUBLISHED (its first `planner tick` creates the folder); "
        "until then every current assignment is a 503 not_revealed"
    )


def _parsed(body: bytes, name: str) -> Any:
    """The JSON of the published file `name`, or 503 naming it: a broken file, or one
    nested too deeply for the parser, is an unusable published file, never a 500."""
    try:
        return parse_json(body)
    except ValueError as exc:
        raise _unavailable(f"the published {name} is not valid JSON: {exc}") from None


def _not_revealed(detail: str) -> SignerError:
    return SignerError(503, "not_revealed", detail, headers={"Retry-After": "10"})


def _unavailable(detail: str) -> SignerError:
    return SignerError(503, "assignment_unavailable", detail, headers={"Retry-After": "30"})


def read_published(location: str, is_url: bool, name: str) -> bytes | None:
    """The bytes of a published file such as `epochs/{id}.json`, or None when it is absent."""
    if is_url:
        try:
            status, body = _fetch(f"{location.rstrip('/')}/{name}", FETCH_TIMEOUT)
        except requests.RequestException:
            raise _unavailable("the published files could not be reached") from None
        if status in (403, 404):
            return None
        if status != 200:
            raise _unavailable(_answered(status))
        if body is None:
            raise _too_large(name)
        return body
    try:
        return (Path(location) / name).read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        raise _unavailable("the published folder cannot be read") from None


class PastEpochs:
    """Earlier epochs' published assignments, kept once read.

    A revealed epoch's file never changes (index.json holds its commitment), yet validators
    ask for past epochs again and again: each is fetched once per worker, and the most
    recently asked `size` are kept. A file the CDN says is absent may still appear, so that
    answer is kept only NOT_PUBLISHED_SECONDS (for the most recently asked `size` epochs),
    enough that asking again and again for a missing epoch does not fetch it each time; a
    CDN error or timeout is not kept. A folder is read each time (no fetch to spare).
    """

    def __init__(
        self,
        location: str,
        is_url: bool,
        clock: Callable[[], float],
        size: int = PAST_EPOCHS_KEPT,
    ) -> None:
        self.location = location
        self.is_url = is_url
        self.clock = clock
        self.size = size
        self._kept: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._absent: OrderedDict[str, float] = OrderedDict()
        """Epoch id -> when the CDN said its file was absent."""
        self._lock = threading.Lock()

    def document(self, epoch_id: str) -> dict[str, Any] | None:
        """The assignment of `epoch_id`, None when it is not published."""
        with self._lock:
            if epoch_id in self._kept:
                self._kept.move_to_end(epoch_id)
                return self._kept[epoch_id]
            if self._known_absent(epoch_id):
                return None
        name = f"epochs/{epoch_id}.json"
        body = read_published(self.location, self.is_url, name)
        if body is None:
            if self.is_url:
                with self._lock:
                    self._absent[epoch_id] = self.clock()
                    self._absent.move_to_end(epoch_id)
                    while len(self._absent) > self.size:
                        self._absent.popitem(last=False)
            return None
        document = _own_assignment(body, name, epoch_id)
        with self._lock:
            self._kept[epoch_id] = document
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return document

    def _known_absent(self, epoch_id: str) -> bool:
        """Whether the CDN said `epoch_id`'s file is absent less than NOT_PUBLISHED_SECONDS
        ago (an older answer is forgotten). Called holding the lock."""
        answered = self._absent.get(epoch_id)
        if answered is None:
            return False
        if self.clock() - answered < NOT_PUBLISHED_SECONDS:
            return True
        del self._absent[epoch_id]
        return False


def _own_assignment(body: bytes, name: str, epoch_id: str) -> dict[str, Any]:
    document = _parsed(body, name)
    if not isinstance(document, dict) or document.get("epochId") != epoch_id:
        raise _unavailable(f"the published {name} is not its own")
    _zipcodes_listed(document, name)
    return document


def _zipcodes_listed(document: dict[str, Any], name: str) -> None:
    """Refuse an assignment whose zipcodes are not what clients read (clientkit's check):
    relayed as it is, it would fail every client, and the legacy views that read it."""
    try:
        check_zipcodes(document)
    except ValueError as exc:
        raise _unavailable(f"the published {name}: {exc}") from None
