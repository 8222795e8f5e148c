"""Every environment setting of the signer, read and checked in one place.

The service refuses to start on a missing or malformed setting, naming it, rather than
failing on the first request that needs it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from limits import parse_many

from signer.proxy import Network, parse_networks

# Which stake a validator needs against SIGNER_MIN_VALIDATOR_STAKE: alpha stake strictly above
# it (`alpha-above`, the subnet's own API's rule, the default), at least it (`alpha-at-least`),
# or the same with the total stake weight (alpha plus TAO times the TAO weight).
STAKE_RULES = ("alpha-above", "alpha-at-least", "total-above", "total-at-least")

# SigV4 presigned URLs and POST policies are valid for at most 7 days.
SIGV4_MAX_EXPIRES = 7 * 24 * 3600
# The largest object one S3 POST (or PUT) may carry: 5 GiB, the old servers' limit too.
S3_MAX_OBJECT_POST = 5 * 1024**3


class ConfigError(ValueError):
    """A setting that is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Typed settings; field comments give the environment variable and its default."""

    metagraph_path: Path  # SIGNER_METAGRAPH (required)
    netuid: int = 46  # SIGNER_NETUID
    network: str = "finney"  # SIGNER_NETWORK
    published: str = "published"  # SIGNER_PUBLISHED: folder or http(s) base URL
    min_validator_stake: float = 20000.0  # SIGNER_MIN_VALIDATOR_STAKE (alpha)
    validator_stake_rule: str = "alpha-above"  # SIGNER_VALIDATOR_STAKE_RULE
    ratelimit_storage: str = "memory://"  # SIGNER_RATELIMIT_STORAGE
    ratelimit_miner: str = "10/minute;200/day"  # SIGNER_RATELIMIT_MINER
    ratelimit_validator: str = "300/minute;20000/day"  # SIGNER_RATELIMIT_VALIDATOR
    ratelimit_address: str = "600/minute"  # SIGNER_RATELIMIT_ADDRESS
    timestamp_max_age: int = 300  # SIGNER_TIMESTAMP_MAX_AGE (s)
    timestamp_max_ahead: int = 60  # SIGNER_TIMESTAMP_MAX_AHEAD (s)
    upload_grace: int = 900  # SIGNER_UPLOAD_GRACE (s after the epoch end)
    max_upload_bytes: int = S3_MAX_OBJECT_POST  # SIGNER_MAX_UPLOAD_BYTES
    list_url_ttl: int = 3600  # SIGNER_LIST_URL_TTL (s)
    recent_epochs: int = 2  # SIGNER_RECENT_EPOCHS
    metagraph_max_age: int = 3600  # SIGNER_METAGRAPH_MAX_AGE (s, 0 = no limit)
    metagraph_refresh: int = 600  # SIGNER_METAGRAPH_REFRESH (s, 0 = never)
    max_body_bytes: int = 16 * 1024  # SIGNER_MAX_BODY_BYTES
    cdn_url: str | None = None  # SIGNER_CDN_URL (default: SIGNER_PUBLISHED when a URL)
    proxy_hops: int = 0  # SIGNER_PROXY_HOPS: X-Forwarded-* hops, from trusted proxies only
    trusted_proxies: tuple[Network, ...] = ()  # SIGNER_TRUSTED_PROXIES: peer networks
    client_ip_header: str | None = None  # SIGNER_CLIENT_IP_HEADER (e.g. DO-Connecting-IP)
    epoch_hours: int = 4  # EPOCH_HOURS: the grid shared with the planner
    s3_endpoint_url: str | None = None  # S3_ENDPOINT_URL (unset = AWS)
    s3_region: str = "us-east-1"  # S3_REGION
    s3_bucket: str | None = None  # S3_BUCKET (unset = no credentials issued)
    s3_access_key_id: str | None = None  # S3_ACCESS_KEY_ID
    s3_secret_access_key: str | None = field(default=None, repr=False)  # S3_SECRET_ACCESS_KEY
    s3_addressing_style: str = "virtual"  # S3_ADDRESSING_STYLE (path when an endpoint is set)

    @property
    def published_is_url(self) -> bool:
        return is_http_url(self.published)


ENV_NAMES = (
    "SIGNER_METAGRAPH",
    "SIGNER_NETUID",
    "SIGNER_NETWORK",
    "SIGNER_PUBLISHED",
    "SIGNER_MIN_VALIDATOR_STAKE",
    "SIGNER_VALIDATOR_STAKE_RULE",
    "SIGNER_RATELIMIT_STORAGE",
    "SIGNER_RATELIMIT_MINER",
    "SIGNER_RATELIMIT_VALIDATOR",
    "SIGNER_RATELIMIT_ADDRESS",
    "SIGNER_TIMESTAMP_MAX_AGE",
    "SIGNER_TIMESTAMP_MAX_AHEAD",
    "SIGNER_UPLOAD_GRACE",
    "SIGNER_MAX_UPLOAD_BYTES",
    "SIGNER_LIST_URL_TTL",
    "SIGNER_RECENT_EPOCHS",
    "SIGNER_METAGRAPH_MAX_AGE",
    "SIGNER_METAGRAPH_REFRESH",
    "SIGNER_MAX_BODY_BYTES",
    "SIGNER_CDN_URL",
    "SIGNER_PROXY_HOPS",
    "SIGNER_TRUSTED_PROXIES",
    "SIGNER_CLIENT_IP_HEADER",
    "EPOCH_HOURS",
    "S3_ENDPOINT_URL",
    "S3_REGION",
    "S3_BUCKET",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
    "S3_ADDRESSING_STYLE",
)

ADDRESSING_STYLES = ("path", "virtual", "auto")


def is_http_url(text: str) -> bool:
    parsed = urlparse(text)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build `Settings` from environment-style strings; raise ConfigError naming the culprit."""
    reader = _Reader(env)
    metagraph = reader.text("SIGNER_METAGRAPH")
    if not metagraph:
        raise ConfigError(
            "SIGNER_METAGRAPH is required: the path of the metagraph snapshot JSON "
            "(e.g. data/metagraph.demo.json for the demo, or where sync-metagraph writes)"
        )
    published = reader.text("SIGNER_PUBLISHED") or Settings.published
    cdn_url = reader.url("SIGNER_CDN_URL") or (published if is_http_url(published) else None)
    endpoint = reader.url("S3_ENDPOINT_URL")
    settings = Settings(
        metagraph_path=Path(metagraph),
        netuid=reader.integer("SIGNER_NETUID", Settings.netuid),
        network=reader.text("SIGNER_NETWORK") or Settings.network,
        published=published.rstrip("/") if is_http_url(published) else published,
        min_validator_stake=reader.number(
            "SIGNER_MIN_VALIDATOR_STAKE", Settings.min_validator_stake
        ),
        validator_stake_rule=reader.choice(
            "SIGNER_VALIDATOR_STAKE_RULE", STAKE_RULES, Settings.validator_stake_rule
        ),
        ratelimit_storage=reader.text("SIGNER_RATELIMIT_STORAGE") or Settings.ratelimit_storage,
        ratelimit_miner=reader.rate("SIGNER_RATELIMIT_MINER", Settings.ratelimit_miner),
        ratelimit_validator=reader.rate("SIGNER_RATELIMIT_VALIDATOR", Settings.ratelimit_validator),
        ratelimit_address=reader.rate("SIGNER_RATELIMIT_ADDRESS", Settings.ratelimit_address),
        timestamp_max_age=reader.integer("SIGNER_TIMESTAMP_MAX_AGE", Settings.timestamp_max_age),
        timestamp_max_ahead=reader.integer(
            "SIGNER_TIMESTAMP_MAX_AHEAD", Settings.timestamp_max_ahead
        ),
        upload_grace=reader.integer("SIGNER_UPLOAD_GRACE", Settings.upload_grace),
        max_upload_bytes=reader.integer(
            "SIGNER_MAX_UPLOAD_BYTES",
            Settings.max_upload_bytes,
            minimum=1,
            maximum=S3_MAX_OBJECT_POST,
        ),
        list_url_ttl=reader.integer(
            "SIGNER_LIST_URL_TTL", Settings.list_url_ttl, minimum=1, maximum=SIGV4_MAX_EXPIRES
        ),
        recent_epochs=reader.integer("SIGNER_RECENT_EPOCHS", Settings.recent_epochs),
        metagraph_max_age=reader.integer("SIGNER_METAGRAPH_MAX_AGE", Settings.metagraph_max_age),
        metagraph_refresh=reader.integer("SIGNER_METAGRAPH_REFRESH", Settings.metagraph_refresh),
        max_body_bytes=reader.integer("SIGNER_MAX_BODY_BYTES", Settings.max_body_bytes, minimum=1),
        cdn_url=cdn_url.rstrip("/") if cdn_url else None,
        proxy_hops=reader.integer("SIGNER_PROXY_HOPS", Settings.proxy_hops),
        trusted_proxies=reader.networks("SIGNER_TRUSTED_PROXIES"),
        client_ip_header=reader.header("SIGNER_CLIENT_IP_HEADER"),
        epoch_hours=reader.choice_int("EPOCH_HOURS", (1, 2, 3, 4, 6, 8, 12, 24), 4),
        s3_endpoint_url=endpoint,
        s3_region=reader.text("S3_REGION") or Settings.s3_region,
        s3_bucket=reader.text("S3_BUCKET") or None,
        s3_access_key_id=reader.text("S3_ACCESS_KEY_ID") or None,
        s3_secret_access_key=reader.text("S3_SECRET_ACCESS_KEY") or None,
        s3_addressing_style=reader.choice(
            "S3_ADDRESSING_STYLE", ADDRESSING_STYLES, "path" if endpoint else "virtual"
        ),
    )
    if (settings.proxy_hops or settings.client_ip_header) and not settings.trusted_proxies:
        raise ConfigError(
            "SIGNER_PROXY_HOPS and SIGNER_CLIENT_IP_HEADER need SIGNER_TRUSTED_PROXIES, the "
            "networks the proxy connects from (e.g. 10.0.0.0/8): forwarded headers from any "
            "other peer are written by the client and ignored"
        )
    if settings.s3_bucket and not (settings.s3_access_key_id and settings.s3_secret_access_key):
        raise ConfigError(
            "S3_BUCKET is set, so S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY are required "
            "(the signer presigns uploads with them)"
        )
    return settings


class _Reader:
    """Typed access to environment strings with messages that name the variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str) -> str:
        return self.env.get(name, "").strip()

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            raise ConfigError(f"{name} must be {bounds}, got {value}")
        return value

    def number(self, name: str, default: float) -> float:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if value < 0 or value != value:
            raise ConfigError(f"{name} must be a number >= 0, got {raw!r}")
        return value

    def rate(self, name: str, default: str) -> str:
        raw = self.text(name) or default
        try:
            parse_many(raw)
        except ValueError:
            raise ConfigError(
                f"{name} must be rate limits like '10/minute;200/day', got {raw!r}"
            ) from None
        return raw

    def url(self, name: str) -> str | None:
        raw = self.text(name)
        if raw and not is_http_url(raw):
            raise ConfigError(f"{name} must be an http(s) URL, got {raw!r}")
        return raw or None

    def networks(self, name: str) -> tuple[Network, ...]:
        try:
            return parse_networks(self.text(name))
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None

    def header(self, name: str) -> str | None:
        raw = self.text(name)
        if raw and not re.fullmatch(r"[A-Za-z0-9-]+", raw):
            raise ConfigError(
                f"{name} must be an HTTP header name like DO-Connecting-IP, got {raw!r}"
            )
        return raw or None

    def choice_int(self, name: str, choices: tuple[int, ...], default: int) -> int:
        value = self.integer(name, default, minimum=1)
        if value not in choices:
            raise ConfigError(
                f"{name} must divide 24 ({', '.join(map(str, choices))}), got {value}"
            )
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        raw = self.text(name) or default
        if raw not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return raw
