"""Settings declared once: a pydantic-settings field per setting, named by its environment variable.

The planner and the signer each declare every setting as a field of one `EnvSettings`
class: the field's alias is the environment name, its description the meaning, its default
and constraints the rules. From that one declaration follow reading the environment
(pydantic-settings), the command-line options that override a setting (`option`), the
messages that name a bad value, and the documentation checks (tests/docs_catalog.py lists
the declared names). A setting read anywhere else is a bug the docs tests report.

The client kit declares its settings here too, and installs without click: click is
imported only by what builds or reports command-line options.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Self, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, PrivateAttr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticUndefined
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)


def is_http_url(text: str) -> bool:
    """An absolute http(s) URL with a host (and a port, if any, that is a number), without a
    query string or fragment: what a base URL must be, as a setting or as a client kit
    argument (clientkit.urls). Anything else (`cdn.example.com`, `localhost:8000`,
    `http://:8000`) requests refuses only at the first request, with MissingSchema,
    InvalidSchema or InvalidURL; and a path added after a query or fragment is asked as
    part of it, of the server's root (`https://cdn.example.com/?x=1/index.json`). A URL
    asked as it is, such as a presigned one, is checked without its query."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (a port that is not a number raises ValueError)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not _tail_at(text)


def _tail_at(text: str) -> str:
    """`text` from its first ? or # on ("" if it has neither)."""
    cut = min((at for at in (text.find("?"), text.find("#")) if at >= 0), default=len(text))
    return text[cut:]


def url_tail(text: str) -> str:
    """The query string or fragment (`?x=1`, `#top`, from the first ? or # on) that keeps
    `text` from being a base URL (is_http_url) it is otherwise; "" for any other text."""
    tail = _tail_at(text)
    return tail if tail and is_http_url(text.removesuffix(tail)) else ""


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:/+|//)?[^/?#]*@")
"""A URL's start up to its `user:password@`: after the scheme and slashes, if any (a URL
without its scheme, `user:password@host`, or with one slash too few, has one too)."""


_START = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*:/+|//)?")
"""A URL's scheme and slashes, if any: where its address starts."""

ENCODE_USERINFO = "a #, ? or / in them ends the address (write %23, %3F, %2F)"


def _misread_userinfo(url: str) -> tuple[int, int] | None:
    """Where a `user:password@` is that holds a #, ? or / left unencoded (start, and end after
    its @), else None. Such a character ends the address before the @, so the user and the
    start of the password are read as a host and a port (`https://admin:s3cr#t@host`). A
    port that is a number is a port unless a # or ? follows it with an @ after it and no
    /, = or & between, as a query or fragment has (`https://admin:1234#t@host`): a URL
    with an @ further on (`https://host:8080/@team`, `https://host:8080/?to=a@b`) is read
    as it is written."""
    if _USERINFO.match(url):
        return None
    start = _START.match(url).end()  # type: ignore[union-attr]  # it matches any text
    at = url.rfind("@", start)
    address = re.match(r"[^/?#]*", url[start:]).group()  # type: ignore[union-attr]
    if at < 0 or ":" not in address:
        return None
    try:
        urlsplit("//" + address).port  # noqa: B018 (a port that is not a number raises)
    except ValueError:
        return start, at + 1
    between = url[start + len(address) : at]
    if between[:1] in ("#", "?") and not re.search(r"[/=&]", between):
        return start, at + 1
    return None


def misread_userinfo(url: str) -> bool:
    """Whether `url` has a user name or password holding a #, ? or / (_misread_userinfo)."""
    return _misread_userinfo(url) is not None


def shown(url: str) -> str:
    """`url` as messages name it: without a user and password (`http://user:password@host`
    as `http://host`), which requests sends and which belong in no log, even when they hold
    a #, ? or / that ends the address before the @; and with its query string or fragment,
    if any, cut to its first character (`https://cdn.example.com/?…`), as a query may carry
    a token. Any text is shown so, a URL refused for its missing scheme or a redirect's
    Location too."""
    url = without_userinfo(url)
    if len(tail := _tail_at(url)) > 1:
        url = url.removesuffix(tail) + tail[0] + "…"
    return url


def without_userinfo(url: str) -> str:
    """`url` without its `user:password@`, if any, one that holds a #, ? or / included."""
    if (span := _misread_userinfo(url)) is not None:
        return url[: span[0]] + url[span[1] :]
    return _USERINFO.sub(r"\1", url)


def refuse_misread_userinfo(value: str) -> None:
    """A URL's rule broken (ValueError) if its user name or password holds a #, ? or / that
    ends its address (misread_userinfo): taken as it is, it would name another host."""
    if misread_userinfo(value):
        raise ValueError(
            "must be a URL whose user name and password are percent-encoded: "
            f"{ENCODE_USERINFO}, got {shown(value)!r}"
        )


def tail_refusal(value: str) -> str:
    """What to drop of a base URL but for its query string or fragment (url_tail): `its
    query string (from '?' on)`; "" if `value` is no such URL. The tail itself is not
    repeated, as a query may carry a token."""
    if not (tail := url_tail(value)):
        return ""
    part = "query string" if tail.startswith("?") else "fragment"
    return f"its {part} (from {tail[0]!r} on)"


def refuse_url_tail(value: str, kind: str = "an http(s) URL") -> None:
    """A setting's rule broken (ValueError) if `value` is a base URL but for a query string
    or fragment (url_tail): `kind` is what the setting must be."""
    if drop := tail_refusal(value):
        raise ValueError(
            f"must be {kind} without a query string or fragment (paths go after it): "
            f"drop {drop}, got {shown(value)!r}"
        )


def _http_url(value: str | None) -> str | None:
    if value is not None:
        refuse_misread_userinfo(value)
        refuse_url_tail(value)
        if not is_http_url(value):
            raise ValueError(f"must be an http(s) URL, got {shown(value)!r}")
    return value.rstrip("/") if value else None


# A base URL setting (unset: None), checked when read and given without its trailing slash.
HttpUrl = Annotated[str | None, AfterValidator(_http_url)]

_HOST = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(:\d+)?|[A-Za-z0-9.-]+:\d+")
"""How a URL without its scheme starts: a name with a top-level domain (`cdn.example.com`),
or any host with a port (`localhost:8080`, `127.0.0.1:8080`)."""


def _folder_or_url(value: str) -> str:
    """A folder, or an http(s) URL with a host. A URL without its scheme was taken for a
    folder that does not exist, and read as one where nothing is published: a value that
    starts like a host is a folder only if there is one."""
    refuse_misread_userinfo(value)
    refuse_url_tail(value)
    if is_http_url(value):
        return value
    if "://" in value or value.lower().startswith(("http:", "https:")):
        raise ValueError(
            f"must be a folder or an http(s) URL (http:// or https:// and a host), got "
            f"{shown(value)!r}"
        )
    if _HOST.fullmatch(value.split("/", 1)[0]) and not Path(value).is_dir():
        raise ValueError(
            f"must be a folder or an http(s) URL, got {shown(value)!r}, which is no folder: a URL "
            f"needs http:// or https:// (such as 'https://{value}'); a folder named like a "
            "host must exist first"
        )
    return value


# Where the planner's published files are: a folder, or (to read them) their base URL, the CDN.
FolderOrUrl = Annotated[str, AfterValidator(_folder_or_url)]


def _bucket_name(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value):
        raise ValueError(
            "must be a bucket name: 3 to 63 lowercase letters, digits, dots and hyphens "
            f"(the name alone, not a URL), got {value!r}"
        )
    return value


# An S3 bucket's name (unset: None): S3 and Spaces accept no other, and botocore refused it
# only at the first request, with its own regular expression.
BucketName = Annotated[str | None, AfterValidator(_bucket_name)]


def refuse_bucket_url(
    endpoint: str | None, bucket: str, endpoint_name: str, bucket_name: str
) -> None:
    """Refuse the bucket's own URL as its endpoint (Spaces shows it as the "Origin Endpoint",
    https://BUCKET.nyc3.digitaloceanspaces.com), naming the endpoint to set instead. With the
    bucket in the path, botocore keeps that path and puts the bucket after it, so every key
    is written to, or read from, a folder of the bucket named after it: the planner
    published a plan no miner reads, the signer's list and read URLs found none of the
    miners' uploads. With the bucket in the host, virtual-host addressing asks for
    BUCKET.BUCKET.nyc3..., which does not exist, and path-style names the bucket twice too.
    The bucket is looked for as the host's first label (before a domain of three labels or
    more, or `localhost`, as SeaweedFS's virtual hosts are) and as any part of the path (a
    gateway's prefix may come first). A bucket named like the endpoint's first label (`nyc3`
    at nyc3.digitaloceanspaces.com) leaves a bare domain behind, and is no such mistake."""
    if endpoint is None:
        return
    url = urlsplit(endpoint)
    host = url.netloc.rpartition("@")[2]  # no user:password@, which no message shows
    parts = url.path.strip("/").split("/")
    rest = host.removeprefix(bucket + ".")
    if rest != host and (rest.count(".") > 1 or rest.partition(":")[0] == "localhost"):
        host, path = rest, url.path.rstrip("/")
    elif bucket in parts:
        path = "".join(f"/{part}" for part in parts[: parts.index(bucket)])
    else:
        return
    raise ValueError(
        f"{endpoint_name} must be the region's endpoint, without the bucket, got "
        f"{shown(endpoint)!r}: that is the bucket's own URL; set {endpoint_name}="
        f"{url.scheme}://{host}{path} (the bucket is {bucket_name}={bucket})"
    )


def refuse_endpoint_userinfo(endpoint: str | None, endpoint_name: str, signed_with: str) -> None:
    """Refuse an S3 endpoint holding a `user:password@`: requests to it are signed with the
    access key and secret (`signed_with` names their settings), and botocore keeps the user
    and password in every URL it builds on the endpoint, presigned ones included, and every
    message naming the endpoint showed them."""
    if endpoint is not None and without_userinfo(endpoint) != endpoint:
        raise ValueError(
            f"{endpoint_name} must hold no user name and password, got {shown(endpoint)!r} "
            f"with them: requests to it are signed with {signed_with}"
        )


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._env = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        """Values without surrounding whitespace: a .env with CRLF line endings, or a value
        pasted with a newline, gave a secret, a path or a name ending in "\r"."""
        return {name: kept for name, value in self._env.items() if (kept := value.strip())}


class EnvSettings(BaseSettings):
    """A program's settings; subclasses declare fields with `alias=` the environment name.

    An empty variable counts as unset. `problem` is the program's error for a bad setting.
    """

    # allow_inf_nan: a float setting of 1e400 (inf) or nan is refused by name, not passed on
    # to arithmetic that overflows.
    model_config = SettingsConfigDict(
        case_sensitive=True,
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        allow_inf_nan=False,
    )
    problem: ClassVar[type[Exception]] = ValueError
    _options: frozenset[str] = PrivateAttr(default=frozenset())
    """The fields given as command-line options (the overrides), for `named`."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values given: `from_env` reads the environment it is handed, no other."""
        return (init_settings,)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """From `env` only (default: the process environment); `overrides` (by field name) win."""
        values = _MappingSource(cls, os.environ if env is None else env)()
        return cls._validated(values, overrides)

    def with_overrides(self, **overrides: Any) -> Self:
        """These settings with some replaced (None leaves a setting as it is), checked again."""
        settings = self._validated(self.model_dump(by_alias=True), overrides)
        settings._options |= self._options
        return settings

    def named(self, name: str) -> str:
        """What gave field `name` its value, for a message: its option when one was given,
        else its environment name (`--published` or `PLANNER_PUBLISHED`)."""
        return self.flag(name) if name in self._options else self.env_names()[name]

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """Field name -> environment name, in declaration order."""
        return {name: info.alias or name for name, info in cls.model_fields.items()}

    @classmethod
    def flag(cls, name: str) -> str:
        """The command-line option that overrides field `name`."""
        extra = cls.model_fields[name].json_schema_extra
        declared = extra.get("option") if isinstance(extra, dict) else None
        return str(declared or "--" + name.replace("_", "-"))

    @classmethod
    def _validated(cls, values: Mapping[str, Any], overrides: Mapping[str, Any]) -> Self:
        """Validate; a bad option is a usage error (exit 2), a bad setting the program's error."""
        names = cls.env_names()
        given = {names[k]: v for k, v in overrides.items() if v is not None}
        flags = {names[k]: cls.flag(k) for k in overrides if overrides[k] is not None}
        offered = {names[k]: cls.flag(k) for k in overrides}
        try:
            settings = cls(**{**values, **given})
        except ValidationError as exc:
            problems = [_describe(cls, error, offered) for error in exc.errors()]
        else:
            settings._options = frozenset(k for k, v in overrides.items() if v is not None)
            return settings
        for env_name, rule in problems:
            if env_name in flags:
                import click

                raise click.BadParameter(rule, param_hint=f"'{flags[env_name]}'")
        raise cls.problem("; ".join(f"{name} {rule}".strip() for name, rule in problems))


def _field(cls: type[EnvSettings], env_name: str) -> FieldInfo | None:
    return next((f for f in cls.model_fields.values() if f.alias == env_name), None)


def _describe(
    cls: type[EnvSettings], error: ErrorDetails, offered: Mapping[str, str]
) -> tuple[str, str]:
    """One validation error as (setting, rule broken): `must be ..., got '...'`. A missing
    setting that the command has an option for (`offered`, env name -> flag) names both."""
    env_name = str(error["loc"][0]) if error["loc"] else ""
    info = _field(cls, env_name)
    context = error.get("ctx") or {}
    if info is None:
        return "", str(context.get("error", error["msg"]))
    got = "" if info.repr is False else f", got {error['input']!r}"
    kind = error["type"]
    bounds = {type(m).__name__: m for m in info.metadata}
    if kind == "missing":
        alternative = f"(or {offered[env_name]}) " if env_name in offered else ""
        return env_name, f"{alternative}is required: {info.description}"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return env_name, f"must be a whole number{got}"
    if kind in ("float_parsing", "float_type", "finite_number"):
        return env_name, f"must be a number{got}"
    if kind in ("greater_than_equal", "less_than_equal") and {"Ge", "Le"} <= set(bounds):
        low, high = bounds["Ge"].ge, bounds["Le"].le
        return env_name, f"must be between {low} and {high}{got}"
    if kind in ("greater_than", "less_than_equal") and {"Gt", "Le"} <= set(bounds):
        low, high = bounds["Gt"].gt, bounds["Le"].le
        return env_name, f"must be more than {low} and at most {high}{got}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign, key = {
            "greater_than_equal": (">=", "ge"),
            "greater_than": (">", "gt"),
            "less_than_equal": ("<=", "le"),
            "less_than": ("<", "lt"),
        }[kind]
        declared = bounds.get(key.capitalize())
        limit = getattr(declared, key) if declared is not None else context[key]
        return env_name, f"must be {sign} {limit}{got}"
    if kind == "literal_error":
        return env_name, f"must be one of {', '.join(map(str, _choices(info)))}{got}"
    if kind == "value_error":
        return env_name, str(context["error"])
    return env_name, f"{error['msg']}{got}"


def _choices(info: FieldInfo) -> tuple[Any, ...]:
    """The values a Literal setting allows (an optional one's None is "unset", not a value)."""
    choices = (a for arg in get_args(info.annotation) for a in get_args(arg) or (arg,))
    return tuple(a for a in choices if a is not type(None))


def _click_type(info: FieldInfo) -> Any:
    import click

    kinds = {k for k in (info.annotation, *get_args(info.annotation)) if k is not type(None)}
    for kind, param in ((Path, click.Path(path_type=Path)), (int, click.INT), (float, click.FLOAT)):
        if kind in kinds:
            return param
    return click.STRING


def option(
    settings: type[EnvSettings], name: str, **click_options: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A click option overriding setting `name`; help, env name and default from its field.

    The option's value arrives as keyword `name` (None when not given), for
    `EnvSettings.with_overrides`, which checks it by the same rules as the environment.
    """
    import click

    info = settings.model_fields[name]
    default = shown_default(info)
    shown = f"; default: {default}" if default else ""
    click_options.setdefault("help", f"{info.description}  [env var: {info.alias}{shown}]")
    click_options.setdefault("type", _click_type(info))
    return click.option(settings.flag(name), name, **click_options)


def shown_default(info: FieldInfo) -> str:
    """A field's default as an environment value ("" when it has none): what the docs show."""
    value = info.get_default(call_default_factory=True)
    if value is None or value is PydanticUndefined:
        return ""
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
