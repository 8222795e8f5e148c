"""The planner's settings, read from the environment (and CLI options) in one place.

Every name is in DESIGN.md or docs/configuration.md; a malformed value fails fast with a
message naming the setting, before any work starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from clientkit import drand
from planner.selection import SelectionConfig
from planner.store import LocalStore, S3Store, Store

MIN_SECRET_LENGTH = 32
# A year of epochs: the private state holds every sealed, unrevealed plaintext (about 15 kB
# each), so a longer horizon only grows memory and the state for epochs nobody needs yet.
MAX_DAYS = 366
STATE_PREFIX = "_planner/"


class SettingsError(ValueError):
    """A missing or malformed setting; the message names it."""


def _number(env: Mapping[str, str], name: str, default: float, kind: type = float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None


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


@dataclass(frozen=True)
class Settings:
    data: Path = Path("data/zipcodes.csv")
    priorities: Path = Path("data/state_priorities.txt")
    published: Path = Path("published")
    state_dir: Path = Path(".planner")
    secret: str | None = field(default=None, repr=False)
    count_column: str | None = None
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    horizon_days: float = 7.0
    epoch_hours: int = 4
    drand_urls: tuple[str, ...] = drand.DEFAULT_RELAYS
    bucket: Bucket | None = None
    lock_wait_seconds: float = 0.0
    audit_zipcodes: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        try:
            selection = SelectionConfig(
                target_listings=int(_number(env, "PLANNER_TARGET_LISTINGS", 10_000, int)),
                tolerance_percent=_number(env, "PLANNER_TOLERANCE_PERCENT", 10.0),
                cooldown_hours=_number(env, "PLANNER_COOLDOWN_HOURS", 24.0),
                min_listings=int(_number(env, "PLANNER_MIN_LISTINGS", 1, int)),
                max_listings=int(_number(env, "PLANNER_MAX_LISTINGS", 1_000, int)),
            )
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        epoch_hours = int(_number(env, "EPOCH_HOURS", 4, int))
        if epoch_hours <= 0 or 24 % epoch_hours:
            raise SettingsError(
                f"EPOCH_HOURS must divide 24 (1, 2, 3, 4, 6, 8, 12, 24), got {epoch_hours}"
            )
        urls = tuple(u.strip() for u in env.get("PLANNER_DRAND_URLS", "").split(",") if u.strip())
        return cls(
            data=Path(env.get("PLANNER_DATA") or cls.data),
            priorities=Path(env.get("PLANNER_PRIORITIES") or cls.priorities),
            published=Path(env.get("PLANNER_PUBLISHED") or cls.published),
            state_dir=Path(env.get("PLANNER_STATE") or cls.state_dir),
            secret=env.get("PLANNER_SECRET") or None,
            count_column=env.get("PLANNER_COUNT_COLUMN") or None,
            selection=selection,
            horizon_days=_days(env),
            epoch_hours=epoch_hours,
            drand_urls=urls or drand.DEFAULT_RELAYS,
            bucket=_bucket(env),
            lock_wait_seconds=_number(env, "PLANNER_LOCK_WAIT", 0.0),
            audit_zipcodes=_audit_count(env),
        )

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.horizon_days)

    def secret_bytes(self) -> bytes:
        """The planning secret; required, never defaulted, never shown."""
        if not self.secret:
            raise SettingsError(
                "PLANNER_SECRET is not set; planning needs it and there is no default. "
                "Generate one with: python -c 'import secrets; print(secrets.token_hex(32))'"
            )
        if len(self.secret) < MIN_SECRET_LENGTH:
            raise SettingsError(
                f"PLANNER_SECRET is too short ({len(self.secret)} characters; at least "
                f"{MIN_SECRET_LENGTH} are required)"
            )
        return self.secret.encode()

    def public_store(self) -> Store:
        if self.bucket is None:
            return LocalStore(self.published)
        return self._s3(prefix="", acl=self.bucket.public_acl)

    def private_store(self) -> Store:
        """Where the encrypted state lives: next to the bucket's files, or in the state folder."""
        if self.bucket is None:
            return LocalStore(self.state_dir)
        return self._s3(prefix=STATE_PREFIX, acl="private" if self.bucket.public_acl else None)

    def _s3(self, prefix: str, acl: str | None) -> S3Store:
        assert self.bucket is not None
        return S3Store(
            bucket=self.bucket.bucket,
            access_key=self.bucket.key,
            secret_key=self.bucket.secret,
            endpoint_url=self.bucket.endpoint_url,
            region=self.bucket.region,
            prefix=prefix,
            acl=acl,
        )


def _days(env: Mapping[str, str]) -> float:
    days = _number(env, "PLANNER_DAYS", 7.0)
    if not 0 < days <= MAX_DAYS:
        raise SettingsError(
            f"PLANNER_DAYS must be more than 0 and at most {MAX_DAYS}, got {days:g}"
        )
    return days


def _audit_count(env: Mapping[str, str]) -> int:
    count = int(_number(env, "PLANNER_AUDIT_ZIPCODES", 0, int))
    if count < 0:
        raise SettingsError(f"PLANNER_AUDIT_ZIPCODES must be 0 or more, got {count}")
    return count


def _bucket(env: Mapping[str, str]) -> Bucket | None:
    name = env.get("SPACES_BUCKET", "").strip()
    if not name:
        return None
    missing = [k for k in ("SPACES_ENDPOINT_URL", "SPACES_KEY", "SPACES_SECRET") if not env.get(k)]
    if missing:
        raise SettingsError(
            f"SPACES_BUCKET is set, so {', '.join(missing)} must be set too "
            "(or unset SPACES_BUCKET to publish to the local folder only)"
        )
    acl = env.get("SPACES_PUBLIC_ACL", "public-read").strip()
    return Bucket(
        endpoint_url=env["SPACES_ENDPOINT_URL"].strip(),
        region=env.get("SPACES_REGION", "").strip() or "us-east-1",
        bucket=name,
        key=env["SPACES_KEY"],
        secret=env["SPACES_SECRET"],
        public_acl=None if acl.lower() in ("", "none") else acl,
    )
