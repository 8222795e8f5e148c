"""What the views share: settings, the clock, the metagraph store, the S3 client, the limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app

from clientkit.epochs import Epoch, EpochError, epoch_at, epoch_from_id
from signer.config import Settings
from signer.errors import SignerError
from signer.metagraph import MetagraphStore, Refresher
from signer.published import CurrentCache, PastEpochs, current_assignment, read_current
from signer.ratelimit import HotkeyQuota, Limiter
from signer.reuse import Reuse

NO_BUCKET = "this signer has no S3 bucket configured (S3_BUCKET)"
"""The detail of the 503 bucket_not_configured, which the OpenAPI document shows too."""


@dataclass
class Services:
    settings: Settings
    clock: Callable[[], float]
    store: MetagraphStore
    limiter: Limiter
    miner_quota: HotkeyQuota
    validator_quota: HotkeyQuota
    status_quota: HotkeyQuota
    s3: Any | None
    refresher: Refresher | None = None
    current_cache: CurrentCache | None = None
    """current.json from SIGNER_PUBLISHED when it is a URL (None for a folder)."""
    reuse: Reuse = field(default_factory=Reuse)
    past_epochs: PastEpochs = field(init=False)
    """Earlier epochs' assignments from SIGNER_PUBLISHED, each read once."""
    _epoch: tuple[float, float, Epoch] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.past_epochs = PastEpochs(
            self.settings.published, self.settings.published_is_url, self.clock
        )

    def now(self) -> float:
        return self.clock()

    def current_epoch(self) -> Epoch:
        """The epoch at the clock's time; the last one found is kept while the clock is in it."""
        now = self.clock()
        known = self._epoch
        if known is not None and known[0] <= now < known[1]:
            return known[2]
        epoch = epoch_at(datetime.fromtimestamp(now, UTC), self.settings.epoch_hours)
        self._epoch = (epoch.start.timestamp(), epoch.end.timestamp(), epoch)
        return epoch

    def recent_epochs(self) -> list[Epoch]:
        """The current epoch and the SIGNER_RECENT_EPOCHS before it, newest first: those a
        validator may upload results for and a miner may report on."""
        epochs = [self.current_epoch()]
        for _ in range(self.settings.recent_epochs):
            epochs.append(epochs[-1].previous())
        return epochs

    def not_recent(self, epoch_id: str) -> str | None:
        """Why `epoch_id` is none of recent_epochs() (off_grid's reason first), naming the
        current epoch, None if it is one."""
        recent = self.recent_epochs()
        if epoch_id in {epoch.id for epoch in recent}:
            return None
        current, count = recent[0].id, self.settings.recent_epochs
        if off_grid := self.off_grid(epoch_id):
            return off_grid
        if epoch_id > current:  # ids of one grid sort as their starts do
            return (
                f"epoch {epoch_id} has not started by this signer's clock, whose current "
                f"epoch is {current} (it takes that one or the {count} before it); if your "
                f"clock says {epoch_id} has started, your clock is ahead: sync it, e.g. with NTP"
            )
        return (
            f"epoch {epoch_id} is not the current epoch, {current}, or one of the {count} before it"
        )

    def off_grid(self, epoch_id: str) -> str | None:
        """What is wrong with an epoch id that starts no epoch of this signer's grid, None
        for one that starts one. A published id off the grid means the signer's EPOCH_HOURS
        is not the planner's, not that the client came too late or early, so the answer
        names the setting and its value (no secret: every epoch id the signer grants shows
        it)."""
        try:
            epoch_from_id(epoch_id, self.settings.epoch_hours)
        except EpochError:
            return (
                f"epoch {epoch_id} is not on this signer's EPOCH_HOURS grid: {self.grid()}; "
                "if the published epochs have this id, the signer's EPOCH_HOURS is not the "
                "planner's (tell the signer's operator)"
            )
        return None

    def grid(self) -> str:
        """This signer's epoch grid, as the refusals of an epoch id off it explain it."""
        hours = self.settings.epoch_hours
        return f"EPOCH_HOURS is {hours}, so epochs start every {hours} hours from 00:00 UTC"

    def current_document(self) -> dict[str, Any]:
        """The current epoch's published assignment, never waiting on the CDN.

        From a folder it is read; from a base URL it is the background copy, which is asked
        to refresh at once when it is missing or not the current epoch's.
        """
        epoch = self.current_epoch()
        try:
            return current_assignment(self._current_body(), epoch)
        except SignerError:
            if self.current_cache is not None:
                self.current_cache.wake()
            raise

    def current_at_hand(self) -> bytes | None:
        """current.json as this signer has it without asking the network (_current_body),
        None when there is none."""
        try:
            return self._current_body()
        except SignerError:
            return None

    def _current_body(self) -> bytes:
        """current.json: the folder's file, or the background copy of a URL's (never a
        fetch); 503 when there is none."""
        if self.current_cache is None:
            return read_current(self.settings.published)
        return self.current_cache.current()

    def bucket(self) -> tuple[Any, str]:
        """The S3 client and bucket, or 503 when this signer has no bucket configured."""
        if self.s3 is None or not self.settings.s3_bucket:
            raise SignerError(503, "bucket_not_configured", NO_BUCKET)
        return self.s3, self.settings.s3_bucket


def services() -> Services:
    return current_app.extensions["signer"]
