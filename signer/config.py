"""Every setting of the signer, declared once: name, default, rule and meaning.

The service refuses to start on a missing or malformed setting, naming it, rather than
failing on the first request that needs it. The environment names, the `signer` options,
.env.example and docs/configuration.md all follow this declaration (tests/test_docs.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from limits import parse_many
from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_settings import NoDecode

from clientkit.epochs import is_epoch_length
from envsettings import (
    BucketName,
    EnvSettings,
    FolderOrUrl,
    HttpUrl,
    is_http_url,
    refuse_bucket_url,
    refuse_endpoint_userinfo,
)
from signer.errors import SignerFailure
from signer.proxy import Network, parse_networks

# SigV4 presigned URLs and POST policies are valid for at most 7 days.
SIGV4_MAX_EXPIRES = 7 * 24 * 3600
# The largest object one S3 POST (or PUT) may carry: 5 GiB, the old servers' limit too.
S3_MAX_OBJECT_POST = 5 * 1024**3


class ConfigError(SignerFailure, ValueError):
    """A setting that is missing or malformed; the message names it."""


# bittensor 11's network names (bittensor.settings.NETWORKS), read without importing it.
NETWORKS = ("finney", "test", "archive", "devnet", "local")


def _network(value: str) -> str:
    if value not in NETWORKS and not value.startswith(("ws://", "wss://")):
        raise ValueError(
            f"must be a network ({', '.join(NETWORKS)}) or a ws(s):// endpoint, got {value!r}"
        )
    return value


def _rates(value: str) -> str:
    try:
        items = parse_many(value)
    except ValueError:
        raise ValueError(f"must be rate limits like '10/minute;200/day', got {value!r}") from None
    if any(item.amount < 1 for item in items):
        raise ValueError(
            f"must allow at least 1 request per window, got {value!r} (a limit of 0 refuses "
            "every request)"
        )
    return value


def _networks(value: object) -> object:
    return parse_networks(value) if isinstance(value, str) else value


def _header(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[A-Za-z0-9-]+", value):
        raise ValueError(f"must be an HTTP header name like DO-Connecting-IP, got {value!r}")
    return value


def _divides_24(value: int) -> int:
    """EPOCH_HOURS: a length the epoch grid takes (clientkit.epochs, which the planner and
    the signer share), refused here with the setting's name before any work starts."""
    if not is_epoch_length(value):
        raise ValueError(f"must divide 24 (1, 2, 3, 4, 6, 8, 12, 24), got {value}")
    return value


Rates = Annotated[str, AfterValidator(_rates)]
Seconds = Annotated[int, Field(ge=0)]
Count = Annotated[int, Field(ge=0)]


class Settings(EnvSettings):
    """The signer's settings; each alias is the environment variable."""

    problem = ConfigError

    metagraph_path: Path = Field(
        alias="SIGNER_METAGRAPH",
        description="the path of the metagraph snapshot JSON (e.g. data/metagraph.demo.json "
        "for the demo, or where sync-metagraph writes)",
        json_schema_extra={"option": "--output"},
    )
    netuid: int = Field(46, alias="SIGNER_NETUID", ge=0, description="Subnet to snapshot.")
    network: Annotated[str, AfterValidator(_network)] = Field(
        "finney",
        alias="SIGNER_NETWORK",
        description="Chain network: finney, test, or a ws(s):// endpoint.",
    )
    published: FolderOrUrl = Field(
        "published",
        alias="SIGNER_PUBLISHED",
        description="The planner's files: a folder, or the CDN base URL.",
    )
    min_validator_stake: float = Field(
        20000.0,
        alias="SIGNER_MIN_VALIDATOR_STAKE",
        ge=0,
        allow_inf_nan=False,
        description="The stake (alpha) a validator must exceed, besides its permit.",
    )
    validator_stake_rule: Literal[
        "alpha-above", "alpha-at-least", "total-above", "total-at-least"
    ] = Field(
        "alpha-above",
        alias="SIGNER_VALIDATOR_STAKE_RULE",
        description="Which stake is compared with the minimum and how: alpha-above (alpha "
        "stake strictly above, the subnet's rule), alpha-at-least, total-above, "
        "total-at-least (alpha plus root TAO times the TAO weight).",
    )
    ratelimit_storage: str = Field(
        "memory://",
        alias="SIGNER_RATELIMIT_STORAGE",
        description="Rate-limit counters: memory:// or a Redis URL shared by several instances.",
    )
    ratelimit_miner: Rates = Field(
        "10/minute;200/day",
        alias="SIGNER_RATELIMIT_MINER",
        description="Per-hotkey limit of the miner endpoint.",
    )
    ratelimit_validator: Rates = Field(
        "300/minute;20000/day",
        alias="SIGNER_RATELIMIT_VALIDATOR",
        description="Per-hotkey limit shared by the validator endpoints.",
    )
    ratelimit_address: Rates = Field(
        "600/minute",
        alias="SIGNER_RATELIMIT_ADDRESS",
        description="Per-address limit of every endpoint but the probes (/healthz, /readyz, "
        "/healthcheck), objects read through list URLs and the explorer's static files (a 404 "
        "or 405 reaches no endpoint: no limit).",
    )
    timestamp_max_age: Seconds = Field(
        300, alias="SIGNER_TIMESTAMP_MAX_AGE", description="Oldest accepted signed timestamp, s."
    )
    timestamp_max_ahead: Seconds = Field(
        60,
        alias="SIGNER_TIMESTAMP_MAX_AHEAD",
        description="Furthest-future accepted signed timestamp, s.",
    )
    upload_grace: Seconds = Field(
        900,
        alias="SIGNER_UPLOAD_GRACE",
        description="Upload credentials expire this many seconds after the epoch ends.",
    )
    max_upload_bytes: int = Field(
        S3_MAX_OBJECT_POST,
        alias="SIGNER_MAX_UPLOAD_BYTES",
        ge=1,
        le=S3_MAX_OBJECT_POST,
        description="Largest object a presigned POST accepts.",
    )
    list_url_ttl: int = Field(
        3600,
        alias="SIGNER_LIST_URL_TTL",
        ge=1,
        le=SIGV4_MAX_EXPIRES,
        description="Lifetime of presigned list URLs, s (at most 7 days).",
    )
    recent_epochs: Count = Field(
        2,
        alias="SIGNER_RECENT_EPOCHS",
        description="Validators may upload, and miners report their status, for the current "
        "epoch and this many before it.",
    )
    metagraph_max_age: Seconds = Field(
        3600,
        alias="SIGNER_METAGRAPH_MAX_AGE",
        description="Refuse with 503 when the snapshot is older than this, s (0: no limit).",
    )
    metagraph_refresh: Seconds = Field(
        600,
        alias="SIGNER_METAGRAPH_REFRESH",
        description="Seconds between background refreshes (0: never).",
    )
    max_body_bytes: int = Field(
        16 * 1024,
        alias="SIGNER_MAX_BODY_BYTES",
        ge=1,
        description="Largest request body (/get-file-presigned-urls takes at least 1 MiB "
        "+ 16 KiB).",
    )
    cdn_url: HttpUrl = Field(
        None,
        alias="SIGNER_CDN_URL",
        description="Base URL of the published files shown in /docs "
        "(default: SIGNER_PUBLISHED when it is a URL).",
    )
    proxy_hops: Count = Field(
        0,
        alias="SIGNER_PROXY_HOPS",
        description="Reverse proxies in front whose X-Forwarded-* entries count "
        "(from SIGNER_TRUSTED_PROXIES only).",
    )
    trusted_proxies: Annotated[tuple[Network, ...], NoDecode, BeforeValidator(_networks)] = Field(
        (),
        alias="SIGNER_TRUSTED_PROXIES",
        description="Networks the proxies in front connect from (comma-separated): "
        "forwarded headers from any other peer are ignored.",
    )
    client_ip_header: Annotated[str | None, AfterValidator(_header)] = Field(
        None,
        alias="SIGNER_CLIENT_IP_HEADER",
        description="A header the trusted proxy sets to the client's address "
        "(App Platform: DO-Connecting-IP).",
    )
    epoch_hours: Annotated[int, AfterValidator(_divides_24)] = Field(
        4,
        alias="EPOCH_HOURS",
        description="Epoch length in hours, the grid shared with the planner.",
    )
    s3_endpoint_url: HttpUrl = Field(
        None, alias="S3_ENDPOINT_URL", description="S3 endpoint of the data bucket (unset: AWS)."
    )
    s3_region: str = Field("us-east-1", alias="S3_REGION", description="Region for signing.")
    s3_bucket: BucketName = Field(
        None, alias="S3_BUCKET", description="Data bucket (unset: no credentials issued)."
    )
    s3_access_key_id: str | None = Field(
        None, alias="S3_ACCESS_KEY_ID", description="Key the signer presigns with."
    )
    s3_secret_access_key: str | None = Field(
        None, alias="S3_SECRET_ACCESS_KEY", repr=False, description="Its secret."
    )
    s3_addressing_style: Literal["path", "virtual", "auto"] | None = Field(
        None,
        alias="S3_ADDRESSING_STYLE",
        description="path, virtual or auto (default: path when S3_ENDPOINT_URL is set).",
    )

    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, values: Any) -> Any:
        """The CDN defaults to a published URL; path-style addressing to a custom endpoint."""
        if not isinstance(values, dict):
            return values
        values = dict(values)
        published = values.get("SIGNER_PUBLISHED")
        if isinstance(published, str) and is_http_url(published):
            values["SIGNER_PUBLISHED"] = published.rstrip("/")
            values.setdefault("SIGNER_CDN_URL", published)
        if not values.get("S3_ADDRESSING_STYLE"):
            values["S3_ADDRESSING_STYLE"] = "path" if values.get("S3_ENDPOINT_URL") else "virtual"
        return values

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        """Forwarded headers need the proxies they may come from; a bucket needs its keys, and
        an endpoint that is not the bucket's own URL."""
        if (self.proxy_hops or self.client_ip_header) and not self.trusted_proxies:
            raise ValueError(
                "SIGNER_PROXY_HOPS and SIGNER_CLIENT_IP_HEADER need SIGNER_TRUSTED_PROXIES, the "
                "networks the proxy connects from (e.g. 10.0.0.0/8): forwarded headers from any "
                "other peer are written by the client and ignored"
            )
        if self.s3_bucket and not (self.s3_access_key_id and self.s3_secret_access_key):
            raise ValueError(
                "S3_BUCKET is set, so S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY are required "
                "(the signer presigns uploads with them)"
            )
        if self.s3_bucket:
            refuse_bucket_url(self.s3_endpoint_url, self.s3_bucket, "S3_ENDPOINT_URL", "S3_BUCKET")
        refuse_endpoint_userinfo(
            self.s3_endpoint_url,
            "S3_ENDPOINT_URL",
            "S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, and every presigned URL the signer "
            "hands out is built on it",
        )
        return self

    @property
    def published_is_url(self) -> bool:
        return is_http_url(self.published)


ENV_NAMES = tuple(Settings.env_names().values())


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """The settings from `env` (default: the process environment); ConfigError names a bad one."""
    return Settings.from_env(env, **overrides)
