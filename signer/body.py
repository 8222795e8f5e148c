"""Request bodies: one JSON object, parsed once and strictly, or a JSON 4xx naming why.

Every signed endpoint takes a JSON object. Anything else is refused here, right after the
per-address rate limit and before validation or a signature check looks at it (the
hotkey's quota is spent only after both, signer/ratelimit.py):

- not JSON at all, or text the strict parser refuses (400): deep nesting (Python's parser
  raises RecursionError, once a 500 with a logged traceback), a key twice in one object
  (which of two `hotkey`s would count?), NaN/Infinity, numbers beyond what JSON can carry
  or Python reads (more than 4,300 digits, refused in the client's terms), a leading byte
  order mark (which the parser's message blamed on the first brace after it);
- JSON that is not an object (422): an array, a number, null, or a *string*, which
  flask-openapi3 would otherwise parse a second time as JSON and validate, while the hotkey
  limiter, seeing no object, counted it for nobody.

The parsed object is cached on the request (werkzeug's get_json cache), so validation and
the handler read the same object.
"""

from __future__ import annotations

import inspect
import io
import json
import math
import sys
from collections.abc import Callable
from functools import cached_property, lru_cache
from typing import IO, Any

from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider
from flask.wrappers import Request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

from signer.errors import SignerError


class BodyRefused(ValueError):
    """Valid-looking JSON text the strict parser refuses; the message says why."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise BodyRefused("the same key appears twice in one object")
    return obj


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise BodyRefused("a number is too large")
    return value


def _constant(name: str) -> float:
    raise BodyRefused(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_float=_float, parse_constant=_constant)


def strict_loads(text: str | bytes) -> Any:
    """json.loads that refuses duplicate keys, NaN/Infinity, infinite floats, deep nesting
    and a leading byte order mark.

    Every refusal is a ValueError, which werkzeug's get_json expects.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise BodyRefused("it is not UTF-8") from None
    if text.startswith("\ufeff"):
        # The parser's own words would point at the object's opening brace, after the mark.
        raise BodyRefused("it starts with a byte order mark (U+FEFF); send UTF-8 without one")
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise BodyRefused("it is nested too deeply") from None
    except (json.JSONDecodeError, BodyRefused):
        raise
    except ValueError:
        # int() past Python's limit on digits, whose words advise sys.set_int_max_str_digits()
        # (for the signer's code, not the client). Caught here, not by a parse_int hook,
        # which would call into Python for every int of every body.
        limit = sys.get_int_max_str_digits()
        raise BodyRefused(f"a number has more than {limit} digits") from None


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON with strict parsing; writing JSON is unchanged."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return strict_loads(s)


class SignerRequest(Request):
    """A request whose JSON parse failures are the signer's JSON 400, with the reason, and
    whose body is read whole, once, with any failure to read it a JSON 400 too."""

    @cached_property
    def stream(self) -> IO[bytes]:
        """The body, read whole before anything parses it.

        With `Content-Length` declared and within the limit it is read in one call to the
        server's input: werkzeug wraps the input in a LimitedStream that reads until it is
        exhausted, several calls into gunicorn's reader and the costliest step of a
        credential request after its signature. A length over the limit is werkzeug's 413;
        a body without one (chunked) is read through werkzeug, a 413 too once past the limit.

        A body the server cannot read is the client's doing, never a 500: a malformed chunk
        (gunicorn raises from inside the read), or a body that ends, the client gone, before
        its chunked terminator or its declared length (which must not pass for the whole
        body)."""
        wsgi = self.environ
        if "HTTP_TRANSFER_ENCODING" in wsgi:
            _refuse_codings(wsgi["HTTP_TRANSFER_ENCODING"])
        limit = self.max_content_length
        declared = wsgi.get("CONTENT_LENGTH", "")
        if not (declared.isascii() and declared.isdigit()) or "HTTP_TRANSFER_ENCODING" in wsgi:
            # One byte past the limit is read, so that a longer body is a 413 and not cut
            # at the limit, as werkzeug's own stream does, to be parsed as if it were whole.
            over = None if limit is None else limit + 1
            body = _read(get_input_stream(wsgi, max_content_length=over).read)
            if limit is not None and len(body) > limit:
                raise RequestEntityTooLarge()
            return io.BytesIO(body)
        length = int(declared)
        if limit is not None and length > limit:
            return super().stream
        body = _read(lambda: wsgi["wsgi.input"].read(length))
        if len(body) < length:
            raise SignerError(
                400,
                "invalid_request",
                f"the request body ended after {len(body)} of the {length} bytes of its "
                "Content-Length",
            )
        return io.BytesIO(body)

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:
            detail = "the request body must be JSON (Content-Type: application/json)"
        elif isinstance(e, BodyRefused):
            detail = f"the request body is not valid JSON: {e}"
        else:
            # json's own messages give a position only, never the input.
            detail = f"the request body is not valid JSON ({e})"
        raise SignerError(400, "invalid_request", detail)


def _refuse_codings(header: str) -> None:
    """A 501 unless the body's transfer coding is chunked alone: gunicorn refuses codings it
    does not know, but passes gzip, deflate and compress before chunked without decoding
    them, and such a body was read as if it were plain."""
    if [coding.strip().lower() for coding in header.split(",")] != ["chunked"]:
        raise SignerError(
            501,
            "not_implemented",
            "the transfer coding is not supported: send the body as it is, with its "
            "Content-Length, or chunked alone",
        )


def _read(read: Callable[[], bytes]) -> bytes:
    """`read()`, the whole body; what the server's reader raises is a JSON 400 naming the
    failure (its class: the message may quote the input), or a 408 for a body that stopped
    arriving (gunicorn's deadline, signer/gunicorn_conf.py); the body limit's 413 stays."""
    try:
        return read()
    except RequestEntityTooLarge:
        raise
    except Exception as exc:  # whatever the WSGI server's reader raises for this body
        # werkzeug's chunked reader raises ClientDisconnected from gunicorn's TimeoutError.
        if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
            raise SignerError(
                408,
                "request_timeout",
                "the request body did not arrive in time: part of it came, then nothing",
            ) from None
        raise SignerError(
            400,
            "invalid_request",
            f"the request body could not be read ({type(exc).__name__}): its chunked "
            "encoding is malformed, or the client stopped sending it before its end",
        ) from None


@lru_cache(maxsize=256)
def _validates_body(view: Callable[..., Any]) -> bool:
    return "body" in inspect.signature(view).parameters


def takes_body() -> bool:
    """True for a routed request whose view validates a JSON body (flask-openapi3 `body`);
    not for OPTIONS, which Flask answers for the same route and which sends no body."""
    endpoint = request.endpoint  # None when routing failed
    return (
        endpoint is not None
        and request.method != "OPTIONS"
        and _validates_body(current_app.view_functions[endpoint])
    )


def require_object() -> None:
    """Before any view: the body of a body-taking endpoint is one JSON object."""
    if not takes_body():
        return
    if not isinstance(request.get_json(), dict):
        raise SignerError(
            422,
            "invalid_request",
            "the request body must be a JSON object (got another JSON value; a JSON string "
            "holding an object is not accepted either)",
        )


def install(app: Flask) -> None:
    app.json = StrictJSONProvider(app)
    app.request_class = SignerRequest
    app.before_request(require_object)
