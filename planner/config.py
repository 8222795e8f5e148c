"""Every setting of the planner, declared once: name, default, rule and meaning.

The environment names, the `planner` options that override them, .env.example and
docs/configuration.md all follow this declaration (tests/test_docs.py). A malformed value
fails fast with a message naming the setting (or the option), before any work starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_settings import NoDecode

from clientkit import drand
from clientkit.epochs import EpochError, is_epoch_length, parse_instant
from envsettings import (
    BucketName,
    EnvSettings,
    FolderOrUrl,
    HttpUrl,
    is_http_url,
    refuse_bucket_url,
    refuse_endpoint_userinfo,
    refuse_url_tail,
    shown,
)
from planner import keys, lease
from planner.errors import PlannerError
from planner.selection import SelectionConfig
from planner.store import CANNED_ACLS, LocalStore, S3Store, Store

# A year of epochs: the private state holds every sealed, unrevealed plaintext (about 15 kB
# each), so a longer horizon only grows memory and the state for epochs nobody needs yet.
MAX_DAYS = 366
STATE_PREFIX = "_planner/"


class SettingsError(PlannerError, ValueError):
    """A missing or malformed setting; the message names it."""


def _relays(value: Any) -> Any:
    """Comma-separated relay URLs, in a string or in each item of a list (repeated options)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence):
        return value
    urls = tuple(u.strip() for item in items for u in str(item).split(",") if u.strip())
    if not urls:
        raise ValueError("must name at least one drand relay's http(s) URL")
    for url in urls:
        refuse_url_tail(url, "http(s) URLs")
        if not is_http_url(url):
            raise ValueError(f"must be http(s) URLs, got {shown(url)!r}")
    return urls


def _canned_acl(value: str) -> str:
    """The ACL published objects are written with; "none" (or empty) sends none."""
    acl = value.strip()
    if acl.lower() not in ("", "none") and acl not in CANNED_ACLS:
        raise ValueError(f"must be {', '.join(CANNED_ACLS)} or none, got {value!r}")
    return acl


def _instant(value: Any) -> Any:
    """An ISO-8601 instant, within years 1970-9000: the planner's arithmetic of days and
    epochs around it overflows near the calendar's ends."""
    try:
        instant = parse_instant(value) if isinstance(value, str) else value
    except EpochError:
        raise ValueError(
            f"must be an ISO-8601 instant (such as 2026-11-25T17:00:00Z), got {value!r}"
        ) from None
    if isinstance(instant, datetime) and not 1970 <= instant.year <= 9000:
        raise ValueError(f"must be between the years 1970 and 9000, got {instant.year}")
    return instant


def _divides_24(value: int) -> int:
    """EPOCH_HOURS: a length the epoch grid takes (clientkit.epochs, which the planner and
    the signer share), refused here with the setting's name before any work starts."""
    if not is_epoch_length(value):
        raise ValueError(f"must divide 24 (1, 2, 3, 4, 6, 8, 12, 24), got {value}")
    return value


@dataclass(frozen=True)
class Bucket:
    """The publishing bucket (DigitalOcean Spaces by default; any S3-compatible endpoint)."""

    endpoint_url: str
    region: str
    bucket: str
    key: str = field(repr=False)
    secret: str = field(repr=False)
    public_acl: str | None = "public-read"

    def describe(self) -> str:
        return f"s3://{self.bucket} @ {self.endpoint_url}"


class Settings(EnvSettings):
    """The planner's settings; each alias is the environment variable."""

    problem = SettingsError

    data: Path = Field(
        Path("data/zipcodes.csv"), alias="PLANNER_DATA", description="Zipcode file (CSV or JSON)."
    )
    priorities: Path = Field(
        Path("data/state_priorities.txt"),
        alias="PLANNER_PRIORITIES",
        description="State priority list.",
    )
    published: FolderOrUrl = Field(
        "published",
        alias="PLANNER_PUBLISHED",
        description="Local output folder, laid out like the bucket (verify: a folder or a URL).",
    )
    state_dir: Path = Field(
        Path(".planner"),
        alias="PLANNER_STATE",
        description="Folder of the run lock, and of the encrypted state without a bucket.",
    )
    secret: str | None = Field(
        None, alias="PLANNER_SECRET", repr=False, description="The planning secret."
    )
    new_secret: str | None = Field(
        None,
        alias="PLANNER_NEW_SECRET",
        repr=False,
        description="The secret `rotate-secret` re-encrypts the private state to.",
    )
    count_column: str | None = Field(
        None,
        alias="PLANNER_COUNT_COLUMN",
        description="Column holding the listing count, when not recently_sold_listings.",
    )
    horizon_days: float = Field(
        7.0,
        alias="PLANNER_DAYS",
        gt=0,
        le=MAX_DAYS,
        description=f"Horizon: how many days ahead to seal, at most {MAX_DAYS}.",
        json_schema_extra={"option": "--days"},
    )
    target_listings: int = Field(
        10_000, alias="PLANNER_TARGET_LISTINGS", description="Expected listings per epoch."
    )
    tolerance_percent: float = Field(
        10.0, alias="PLANNER_TOLERANCE_PERCENT", description="Accepted band around the target, %."
    )
    cooldown_hours: float = Field(
        24.0, alias="PLANNER_COOLDOWN_HOURS", description="Hours before a zipcode may come back."
    )
    coverage_deadline_days: float = Field(
        7.0,
        alias="PLANNER_COVERAGE_DAYS",
        description="Coverage deadline: every eligible zipcode once per this many days.",
    )
    min_listings: int = Field(
        1, alias="PLANNER_MIN_LISTINGS", description="Fewer expected listings: never assigned."
    )
    max_listings: int = Field(
        1_000, alias="PLANNER_MAX_LISTINGS", description="More expected listings: never assigned."
    )
    epoch_hours: Annotated[int, AfterValidator(_divides_24)] = Field(
        4, alias="EPOCH_HOURS", description="Epoch length in hours, shared with the signer."
    )
    drand_urls: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_relays)] = Field(
        drand.DEFAULT_RELAYS,
        alias="PLANNER_DRAND_URLS",
        description="drand relay base URL (repeatable, or comma-separated).",
        json_schema_extra={"option": "--drand-url"},
    )
    lock_wait_seconds: float = Field(
        0.0,
        alias="PLANNER_LOCK_WAIT",
        ge=0,
        description="Seconds to wait for another planner run on this machine to end "
        "(PLANNER_LOCK_WAIT applies to plan, reveal and rotate-secret too).",
        json_schema_extra={"option": "--lock-wait"},
    )
    lease_seconds: float = Field(
        900.0,
        alias="PLANNER_LEASE_SECONDS",
        gt=0,
        le=lease.MAX_SECONDS,
        description="With a bucket: how long a run's lease keeps runs on other machines out.",
    )
    lease_settle_seconds: float = Field(
        2.0,
        alias="PLANNER_LEASE_SETTLE",
        ge=0,
        description="With a bucket: seconds between writing the lease and checking it.",
    )
    audit_zipcodes: int = Field(
        0, alias="PLANNER_AUDIT_ZIPCODES", ge=0, description="Audit zipcodes per epoch (0: off)."
    )
    now: Annotated[datetime | None, BeforeValidator(_instant)] = Field(
        None,
        alias="PLANNER_NOW",
        description="Act as if it were this instant (ISO-8601, UTC if no offset): "
        "simulation and tests.",
    )
    spaces_bucket: BucketName = Field(
        None, alias="SPACES_BUCKET", description="Publishing bucket (unset: local folder only)."
    )
    spaces_endpoint_url: HttpUrl = Field(
        None, alias="SPACES_ENDPOINT_URL", description="Its S3 endpoint."
    )
    spaces_region: str = Field("us-east-1", alias="SPACES_REGION", description="Its region.")
    spaces_key: str | None = Field(None, alias="SPACES_KEY", repr=False, description="Access key.")
    spaces_secret: str | None = Field(
        None, alias="SPACES_SECRET", repr=False, description="Its secret."
    )
    spaces_public_acl: Annotated[str, AfterValidator(_canned_acl)] = Field(
        "public-read",
        alias="SPACES_PUBLIC_ACL",
        description="Canned ACL of public objects; none sends no ACL.",
    )
    spaces_public_url: HttpUrl = Field(
        None,
        alias="SPACES_PUBLIC_URL",
        description="Base URL anyone reads the bucket at (e.g. its CDN endpoint).",
        json_schema_extra={"option": "--public-url"},
    )

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        """The selection bounds fit together; a bucket comes with its endpoint and keys."""
        self.selection  # noqa: B018 (SelectionConfig checks its bounds)
        if self.lease_settle_seconds >= self.lease_seconds:
            raise ValueError(
                f"PLANNER_LEASE_SETTLE ({self.lease_settle_seconds:g}) must be less than "
                f"PLANNER_LEASE_SECONDS ({self.lease_seconds:g}): the lease would expire "
                "before the run reads it back"
            )
        if self.spaces_bucket:
            given = {
                "SPACES_ENDPOINT_URL": self.spaces_endpoint_url,
                "SPACES_KEY": self.spaces_key,
                "SPACES_SECRET": self.spaces_secret,
            }
            missing = [name for name, value in given.items() if not value]
            if missing:
                raise ValueError(
                    f"SPACES_BUCKET is set, so {', '.join(missing)} must be set too "
                    "(or unset SPACES_BUCKET to publish to the local folder only)"
                )
            refuse_bucket_url(
                self.spaces_endpoint_url, self.spaces_bucket, "SPACES_ENDPOINT_URL", "SPACES_BUCKET"
            )
        refuse_endpoint_userinfo(
            self.spaces_endpoint_url, "SPACES_ENDPOINT_URL", "SPACES_KEY and SPACES_SECRET"
        )
        return self

    @property
    def selection(self) -> SelectionConfig:
        return SelectionConfig(
            target_listings=self.target_listings,
            tolerance_percent=self.tolerance_percent,
            cooldown_hours=self.cooldown_hours,
            coverage_days=self.coverage_deadline_days,
            min_listings=self.min_listings,
            max_listings=self.max_listings,
        )

    @property
    def bucket(self) -> Bucket | None:
        if not (self.spaces_bucket and self.spaces_endpoint_url):
            return None
        acl = self.spaces_public_acl
        return Bucket(
            endpoint_url=self.spaces_endpoint_url,
            region=self.spaces_region,
            bucket=self.spaces_bucket,
            key=self.spaces_key or "",
            secret=self.spaces_secret or "",
            public_acl=None if acl.lower() in ("", "none") else acl,
        )

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.horizon_days)

    def secret_bytes(self) -> bytes:
        """The planning secret; required, never defaulted, never shown, refused if weak."""
        return keys.check_strength(self.secret)

    def master_key(self) -> bytes:
        """The key every other key is derived from (scrypt of the secret, once per process)."""
        return keys.master_key(self.secret_bytes())

    def public_store(self, *, existing: bool = False) -> Store:
        """Where runs publish: the bucket, else the PLANNER_PUBLISHED folder (a URL there is
        for `verify` to read, and was taken for a folder named `https:`). `existing`: the
        folder must exist, for a command that only reads it (`status`)."""
        if self.bucket is None:
            if "://" in self.published:
                raise SettingsError(
                    f"PLANNER_PUBLISHED (--published) is {self.published!r}: a run publishes "
                    "to a folder, or to the bucket that SPACES_BUCKET names; a URL is what "
                    "`planner verify` reads"
                )
            folder = LocalStore(Path(self.published), setting=self.named("published"))
            if existing:
                folder.check_exists()
            return folder
        return self._s3(self.bucket, prefix="", acl=self.bucket.public_acl)

    def private_store(self) -> Store:
        """Where the encrypted state lives: next to the bucket's files, or in the state folder
        (readable by this user alone)."""
        if self.bucket is None:
            return LocalStore(self.state_dir, mode=0o600, setting=self.named("state_dir"))
        acl = "private" if self.bucket.public_acl else None
        return self._s3(self.bucket, prefix=STATE_PREFIX, acl=acl)

    @staticmethod
    def _s3(bucket: Bucket, prefix: str, acl: str | None) -> S3Store:
        return S3Store(
            bucket=bucket.bucket,
            access_key=bucket.key,
            secret_key=bucket.secret,
            endpoint_url=bucket.endpoint_url,
            region=bucket.region,
            prefix=prefix,
            acl=acl,
        )
