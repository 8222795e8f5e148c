"""The signer's OpenAPI document is a contract its answers keep, checked by schemathesis.

Generated requests (valid and invalid) go to every signer operation on the WSGI app; each
answer must not be a 5xx and must match what the document promises for it: a documented
status code, the documented content type and headers, and a body valid against the
response schema. Fuzzing cannot forge a signature, so correctly signed requests for every
credential endpoint are validated the same way, and the planner's real published files
are checked against the schemas the document gives them on the CDN. Every operation is
also sent its request in each state of the signer that refuses, and spoiled in each way a
body is refused: each answer must be documented for it, and each answer documented for it
must be among those it gave.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from docs_catalog import signer_error_codes
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from planner.jobs import tick
from planner.store import LocalStore
from signer import create_app, listing
from signer.bodylimit import FILE_URLS_MAX_BODY
from signer.docs import PUBLISHED_TAG
from signer.services import services

from conftest import NOW
from servers import signer_client as sc
from servers.busy_http import Answer, scripted_server
from servers.static_http import serve_folder

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
FUZZ_CHECKS = [*CHECKS, negative_data_rejection]
EXAMPLES = 25
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
ERROR_RESPONSE = {"$ref": "#/components/schemas/ErrorResponse"}


@pytest.fixture
def published(make_planner, signer_config) -> Path:
    """The current epoch revealed and the next day sealed, where the signer reads them."""
    folder = Path(signer_config["SIGNER_PUBLISHED"])
    tick(make_planner(public=LocalStore(folder), horizon=timedelta(days=1)), NOW)
    return folder


@pytest.fixture
def schema(signer_config, published):
    app = create_app({**signer_config, "SIGNER_RATELIMIT_ADDRESS": "1000000/minute"})
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


def documented(schema, published_files: bool) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation the raw document lists, signer's or CDN's."""
    return {
        (method.upper(), path)
        for path, item in schema.raw_schema["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
        and (PUBLISHED_TAG in operation.get("tags", ())) is published_files
    }


def test_every_signer_operation_answers_as_documented(schema):
    operations = [result.ok() for result in schema.exclude(tag=PUBLISHED_TAG).get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == documented(schema, False)

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def conforms(case):
            case.call_and_validate(checks=FUZZ_CHECKS)

        conforms()


SIGNED = {
    ("POST", "/get-folder-access"): sc.folder_access,
    ("POST", "/get-validator-access"): sc.validator_access,
    ("POST", "/api/v1/s3-access/validator-upload"): sc.validator_upload,
    ("POST", "/get-miner-list"): sc.miner_list,
    ("POST", "/get-miner-specific-access"): sc.miner_list,
    ("POST", "/get-file-presigned-urls"): sc.miner_files,
    ("POST", "/get-file-upload-url"): sc.file_upload,
}


@pytest.mark.parametrize(("method", "path"), list(SIGNED), ids=[p for _, p in SIGNED])
def test_signed_requests_get_documented_credentials(schema, method, path):
    case = schema[path][method].Case(body=SIGNED[(method, path)](), media_type="application/json")
    response = case.call()
    assert response.status_code == 200, response.text
    case.validate_response(response, checks=CHECKS)


@dataclass(frozen=True)
class Refusal:
    """One way to be refused: the request, the settings it needs, the answer expected."""

    method: str
    path: str
    status: int
    code: str
    settings: dict[str, str] = field(default_factory=dict)
    request: dict[str, Any] = field(default_factory=dict)
    times: int = 1  # the same request sent this many times, the last one judged


# In a path, `{list}` is a list URL the signer under test grants, `{query}` its query, and
# `{expired}` the query of one that has expired.
STALE = sc.NOW - 1000
LIMITED = {"SIGNER_RATELIMIT_ADDRESS": "1/minute"}
NO_COUNTERS = {"SIGNER_RATELIMIT_STORAGE": "redis://127.0.0.1:9"}
NO_BUCKET = {"S3_BUCKET": "", "S3_ACCESS_KEY_ID": "", "S3_SECRET_ACCESS_KEY": ""}
# A key under the list URL's prefix, its slashes encoded so that the path is one segment
# for finding its operation (the signer decodes them: the key is data/hotkey=x/1.parquet).
IN_LIST = "data%2Fhotkey=x%2F1.parquet"
# An operation of each kind the per-address limit counts.
COUNTED = [
    ("GET", "/assignments/current", {}),
    ("GET", "/api/v1/zipcode-assignments/current", {}),
    ("GET", "/api/v1/zipcode-assignments/stats", {}),
    ("GET", f"/api/v1/zipcode-assignments/epoch/{sc.EPOCH}", {}),
    ("GET", "{list}", {}),
    ("POST", "/get-folder-access", {"json": sc.folder_access()}),
    ("POST", "/api/v1/zipcode-assignments/status", {"json": sc.miner_status("0")}),
]
REFUSALS = {
    "not JSON": Refusal(
        "POST",
        "/get-folder-access",
        400,
        "invalid_request",
        request={"data": b"{", "content_type": "application/json"},
    ),
    "no valid file": Refusal(
        "POST",
        "/get-file-presigned-urls",
        400,
        "no_valid_files",
        request={"json": sc.miner_files(keys=["elsewhere/1.parquet"])},
    ),
    "wrong nonce": Refusal(
        "POST",
        "/api/v1/zipcode-assignments/status",
        400,
        "invalid_nonce",
        request={"json": sc.miner_status("0")},
    ),
    "bad signature": Refusal(
        "POST",
        "/get-folder-access",
        401,
        "invalid_signature",
        request={"json": sc.folder_access(signer="//Alice")},
    ),
    "stale timestamp": Refusal(
        "POST",
        "/get-validator-access",
        401,
        "stale_timestamp",
        request={"json": sc.validator_access(timestamp=STALE)},
    ),
    "bad tao headers": Refusal(
        "POST",
        "/get-file-upload-url",
        401,
        "invalid_tao_headers",
        request={
            "data": b'{"job_id": "j", "filename": "f"}',
            "headers": {"X-Tao-Version": "2", "Content-Type": "application/json"},
        },
    ),
    "coldkey mismatch": Refusal(
        "POST",
        "/get-folder-access",
        403,
        "coldkey_mismatch",
        request={"json": sc.folder_access(coldkey="//Alice")},
    ),
    "not a validator": Refusal(
        "POST",
        "/get-miner-list",
        403,
        "not_a_validator",
        request={"json": sc.miner_list(hotkey="//Bob")},
    ),
    "epoch not allowed": Refusal(
        "POST",
        "/api/v1/s3-access/validator-upload",
        403,
        "epoch_not_allowed",
        request={"json": sc.validator_upload(epoch_id="2026-11-20T16-00-00")},
    ),
    "epoch not revealed": Refusal(
        "GET", "/api/v1/zipcode-assignments/epoch/2026-12-25T16-00-00", 404, "epoch_not_found"
    ),
    "body too large": Refusal(
        "POST",
        "/get-miner-specific-access",
        413,
        "payload_too_large",
        request={"data": b"{" + b" " * 20000 + b"}", "content_type": "application/json"},
    ),
    "missing field": Refusal(
        "POST", "/get-miner-list", 422, "invalid_request", request={"json": {"hotkey": 1}}
    ),
    "no snapshot": Refusal(
        "POST",
        "/get-validator-access",
        503,
        "metagraph_unavailable",
        {"SIGNER_METAGRAPH": "/nonexistent/metagraph.json"},
        {"json": sc.validator_access()},
    ),
    "no bucket": Refusal(
        "POST",
        "/get-folder-access",
        503,
        "bucket_not_configured",
        NO_BUCKET,
        {"json": sc.folder_access()},
    ),
    "no bucket to list": Refusal("GET", "{list}", 503, "bucket_not_configured", NO_BUCKET),
    "no bucket to read from": Refusal(
        "GET", f"/s3/list/{IN_LIST}?{{query}}", 503, "bucket_not_configured", NO_BUCKET
    ),
    "not revealed": Refusal(
        "GET",
        "/api/v1/zipcode-assignments/current",
        503,
        "not_revealed",
        {"SIGNER_PUBLISHED": "/nonexistent/published"},
    ),
    "path parameter": Refusal(
        "GET", "/api/v1/zipcode-assignments/epoch/2026-11-25", 422, "invalid_request"
    ),
    "list query missing": Refusal("GET", "/s3/list?prefix=data/", 422, "invalid_request"),
    "object query missing": Refusal("GET", "/s3/list/x", 422, "invalid_request"),
    "list token": Refusal("GET", "{list}&continuation-token=%21", 400, "invalid_request"),
    "list signature": Refusal(
        "GET",
        "/s3/list?prefix=data/&expires=1795629600&signature=" + "0" * 64,
        403,
        "invalid_list_signature",
    ),
    "list expired": Refusal("GET", "/s3/list?{expired}", 403, "list_url_expired"),
    "object URL signature": Refusal(
        "GET",
        f"/s3/list/{IN_LIST}?prefix=data/&expires=1795629600&signature=" + "0" * 64,
        403,
        "invalid_list_signature",
    ),
    "object URL expired": Refusal(
        "GET", f"/s3/list/{IN_LIST}?{{expired}}", 403, "list_url_expired"
    ),
    "object outside": Refusal("GET", "/s3/list/other?{query}", 403, "outside_prefix"),
    "storage down": Refusal("GET", "{list}", 502, "storage_unavailable"),
    "object key control": Refusal("GET", "/s3/list/a%01b?{query}", 422, "invalid_request"),
    "object key unroutable": Refusal("GET", "/s3/list/a%0Ab?{query}", 404, "not_found"),
    **{
        f"rate limited {method} {path}": Refusal(
            method, path, 429, "rate_limited", LIMITED, request, times=2
        )
        for method, path, request in COUNTED
    },
    **{
        f"counters down {method} {path}": Refusal(
            method, path, 503, "limits_unavailable", NO_COUNTERS, request
        )
        for method, path, request in COUNTED
    },
}


def _list_url(app, expires_in: int = 3600) -> str:
    """The path and query of a list URL of `app`, as /get-validator-access grants it."""
    with app.test_request_context():
        url = listing.list_url(services(), ["data/hotkey="], expires_in)
    return url.removeprefix("http://localhost")


def send(app, method: str, path: str, request: dict[str, Any], times: int = 1) -> tuple[str, Any]:
    """The path sent (`{list}`, `{query}` and `{expired}` filled in) and the answer to the
    last of `times` identical requests."""
    url = _list_url(app)
    expired = _list_url(app, -1).partition("?")[2]
    path = path.format(list=url, query=url.partition("?")[2], expired=expired)
    client = app.test_client()
    for _ in range(times):
        response = client.open(path, method=method, **request)
    return path, response


def path_parameters(template: str, path: str) -> dict[str, str]:
    """The values a concrete path gives the `{name}` segments of its template."""
    return {
        name[1:-1]: value
        for name, value in zip(template.split("/"), path.split("/"), strict=True)
        if name.startswith("{")
    }


def operation_of(schema, method: str, path: str):
    """The documented operation a path sent (its query too) is a request of."""
    operation = schema.find_operation_by_path(method, path.partition("?")[0])
    assert operation is not None, path
    return operation


def answer_of(response) -> tuple[int, str | None]:
    """An answer's status and, for a refusal, its code: None for a success, or /readyz's 503,
    its Readiness body."""
    if response.status_code < 400 or "error" not in response.json:
        return response.status_code, None
    return response.status_code, response.json["error"]


def assert_documented(schema, method: str, path: str, response) -> None:
    """What a client coding from /openapi.json must find for an answer: its status among the
    operation's responses, with its body and headers; for a refusal, an ErrorResponse naming
    its code (the example's, or `code` in the description) and declaring its headers."""
    route = path.partition("?")[0]
    operation = operation_of(schema, method, path)
    case = operation.Case(path_parameters=path_parameters(operation.path, route))
    # A 5xx is what some refusals are; the other checks still hold.
    case.validate_response(response, checks=CHECKS[1:] if response.status_code >= 500 else CHECKS)
    status, code = answer_of(response)
    if code is None:
        return
    answers = schema.raw_schema["paths"][operation.path][method.lower()]["responses"]
    answer = answers[str(status)]
    content = answer["content"]["application/json"]
    assert content["schema"] == ERROR_RESPONSE
    assert content["example"]["error"] == code or f"`{code}`" in answer["description"], (
        f"{method} {operation.path}: its {response.status_code} does not name {code}"
    )
    for header in ("Retry-After", "Allow"):
        if header in response.headers:
            assert header in answer.get("headers", {}), header


def refusal_answer(signer_config, refusal: Refusal) -> tuple[str, Any]:
    """The path sent for `refusal`, and the answer."""
    app = create_app({**signer_config, **refusal.settings})
    return send(app, refusal.method, refusal.path, refusal.request, refusal.times)


@pytest.mark.parametrize("refusal", list(REFUSALS.values()), ids=list(REFUSALS))
def test_each_refusal_is_documented_for_its_operation(signer_config, schema, refusal):
    """What a client coding from /openapi.json must find for each refusal (assert_documented)."""
    path, response = refusal_answer(signer_config, refusal)
    assert (response.status_code, response.json["error"]) == (refusal.status, refusal.code)
    assert_documented(schema, refusal.method, path, response)


# Every operation in each state of the signer, and every operation taking a body with each
# way a body is refused: what one operation answers, the others may answer too (REFUSALS
# sends each refusal to one operation; /s3/list/{key}'s 503 bucket_not_configured was missed).


@pytest.fixture
def calls(published) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """Each signer operation's path and a request it answers as configured (its 200, or
    its 302), the path written as in REFUSALS."""
    nonce = json.loads((published / "epochs" / f"{sc.EPOCH}.json").read_bytes())["nonce"]
    signed = {key: (key[1], {"json": body()}) for key, body in SIGNED.items()}
    return {
        **signed,
        ("POST", "/api/v1/zipcode-assignments/status"): (
            "/api/v1/zipcode-assignments/status",
            {"json": sc.miner_status(nonce)},
        ),
        **{
            ("GET", path): (path, {})
            for path in (
                "/assignments/current",
                "/api/v1/zipcode-assignments/current",
                "/api/v1/zipcode-assignments/stats",
                "/healthz",
                "/readyz",
                "/healthcheck",
            )
        },
        ("GET", "/api/v1/zipcode-assignments/epoch/{epoch_id}"): (
            f"/api/v1/zipcode-assignments/epoch/{sc.EPOCH}",
            {},
        ),
        ("GET", "/s3/list"): ("{list}", {}),
        ("GET", "/s3/list/{key}"): (f"/s3/list/{IN_LIST}?{{query}}", {}),
    }


def test_the_calls_reach_every_signer_operation(schema, calls):
    assert set(calls) == documented(schema, False)


@dataclass(frozen=True)
class Condition:
    """A state of the signer, and the codes it makes operations answer (each by one at
    least; other answers, documented, may come too)."""

    settings: dict[str, str]
    codes: set[str]
    times: int = 1  # each request sent this many times, the last one judged


CONDITIONS = {
    # An S3 endpoint that lists an empty bucket (`places`): every request is answered.
    "bucket answers": Condition({"S3_ENDPOINT_URL": "{bucket}"}, set()),
    # Nothing listens at the test settings' S3_ENDPOINT_URL (presigning needs no S3).
    "bucket unreachable": Condition({}, {"storage_unavailable"}),
    "no bucket": Condition(NO_BUCKET, {"bucket_not_configured"}),
    "no snapshot": Condition(
        {"SIGNER_METAGRAPH": "/nonexistent/metagraph.json"}, {"metagraph_unavailable"}
    ),
    # The demo snapshot was fetched an hour before NOW.
    "stale snapshot": Condition({"SIGNER_METAGRAPH_MAX_AGE": "60"}, {"metagraph_stale"}),
    "counters down": Condition(NO_COUNTERS, {"limits_unavailable"}),
    "address over its limit": Condition(LIMITED, {"rate_limited"}, times=2),
    "hotkeys over their quotas": Condition(
        {"SIGNER_RATELIMIT_MINER": "1/minute", "SIGNER_RATELIMIT_VALIDATOR": "1/minute"},
        {"rate_limited"},
        times=2,
    ),
    "nothing published": Condition(
        {"SIGNER_PUBLISHED": "/nonexistent/published"}, {"not_revealed", "epoch_not_found"}
    ),
    # A folder whose current.json is not JSON (`places`).
    "published file unusable": Condition(
        {"SIGNER_PUBLISHED": "{unusable}"}, {"assignment_unavailable"}
    ),
    "CDN unreachable": Condition(
        {"SIGNER_PUBLISHED": "http://127.0.0.1:9/s46"}, {"assignment_unavailable"}
    ),
}


EMPTY_PAGE = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>"
)


@pytest.fixture
def places(tmp_path) -> Iterator[dict[str, str]]:
    """What a condition's settings name in braces: `unusable`, a folder whose current.json
    is not JSON, and `bucket`, an S3 endpoint answering every request (a listing: presigning
    calls no S3) with an empty ListObjectsV2 page."""
    unusable = tmp_path / "unusable"
    unusable.mkdir()
    (unusable / "current.json").write_text("{")
    with scripted_server([Answer(200, {"Content-Type": "application/xml"}, EMPTY_PAGE)]) as s3:
        yield {"unusable": str(unusable), "bucket": s3.url}


def condition_answers(
    signer_config, calls, places, condition: Condition
) -> Iterator[tuple[str, str, Any]]:
    """The method, the path sent and the answer of each operation's request to a signer in
    `condition`."""
    settings = {name: value.format(**places) for name, value in condition.settings.items()}
    for (method, _), (path, request) in calls.items():
        app = create_app({**signer_config, **settings})
        yield method, *send(app, method, path, request, condition.times)


@pytest.mark.parametrize("condition", list(CONDITIONS.values()), ids=list(CONDITIONS))
def test_every_operation_documents_what_it_answers_in_each_condition(
    signer_config, schema, calls, places, condition
):
    """A signer in `condition` gets each operation's request: whatever it answers is
    documented for that operation (assert_documented)."""
    codes = set()
    for method, sent, response in condition_answers(signer_config, calls, places, condition):
        assert_documented(schema, method, sent, response)
        codes.add(answer_of(response)[1])
    assert condition.codes <= codes


class Stalled:
    """A body that stops arriving: reading it times out, as gunicorn's deadline makes it
    (signer/gunicorn_conf.py; tests/test_signer_slow_clients.py sends one for real)."""

    def read(self, size: int = -1) -> bytes:
        raise TimeoutError


@dataclass(frozen=True)
class Fault:
    """A way to spoil the request an operation answers (its body given), and the codes it
    gets across the operations (each from one at least)."""

    request: Callable[[dict[str, Any]], dict[str, Any]]
    codes: set[str]
    times: int = 1  # each request sent this many times, the last one judged


# Header signing replaces these fields of a body (and may leave coldkey out).
HEADER_SIGNED = {"hotkey", "timestamp", "signature", "coldkey"}
JSON = "application/json"


def header_signed(body: dict[str, Any], key: str) -> dict[str, Any]:
    """The request of `body` signed by `key` in X-Tao-* headers instead."""
    left = {name: value for name, value in body.items() if name not in HEADER_SIGNED}
    data = json.dumps(left).encode()
    return {"data": data, "headers": sc.tao_headers(key, data, millis=sc.NOW * 1000)}


FAULTS = {
    "not JSON": Fault(lambda body: {"data": b"{", "content_type": JSON}, {"invalid_request"}),
    "not an object": Fault(lambda body: {"json": [body]}, {"invalid_request"}),
    "no fields": Fault(lambda body: {"json": {}}, {"invalid_request"}),
    "over every body limit": Fault(
        lambda body: {"data": b"{" + b" " * FILE_URLS_MAX_BODY + b"}", "content_type": JSON},
        {"payload_too_large"},
    ),
    "stops arriving": Fault(
        lambda body: {
            "data": json.dumps(body),
            "content_type": JSON,
            "environ_overrides": {"wsgi.input": Stalled()},
        },
        {"request_timeout"},
    ),
    "signature that does not verify": Fault(
        lambda body: {"json": {**body, "signature": "00" * 64}}, {"invalid_signature"}
    ),
    "timestamp too old": Fault(
        lambda body: {"json": {**body, "timestamp": STALE}}, {"stale_timestamp"}
    ),
    "timestamp ahead": Fault(
        lambda body: {"json": {**body, "timestamp": sc.NOW + 1000}}, {"future_timestamp"}
    ),
    "X-Tao headers incomplete": Fault(
        lambda body: {"json": body, "headers": {"X-Tao-Version": "2"}}, {"invalid_tao_headers"}
    ),
    "X-Tao nonce replayed": Fault(
        lambda body: header_signed(body, "//Alice"), {"replayed_nonce"}, times=2
    ),
    "unregistered hotkey": Fault(lambda body: header_signed(body, "//Nobody"), {"not_registered"}),
    "a miner's hotkey": Fault(lambda body: header_signed(body, "//Bob"), {"not_a_validator"}),
    "stake below the minimum": Fault(
        lambda body: header_signed(body, "//Dave"), {"insufficient_stake"}
    ),
}


def fault_answers(signer_config, calls, fault: Fault) -> Iterator[tuple[str, str, Any]]:
    """The method, the path sent and the answer of each operation taking a body, sent its
    request spoiled by `fault`."""
    for (method, _), (path, request) in calls.items():
        if "json" in request:
            app = create_app(signer_config)
            yield method, *send(app, method, path, fault.request(request["json"]), fault.times)


@pytest.mark.parametrize("fault", list(FAULTS.values()), ids=list(FAULTS))
def test_every_operation_taking_a_body_documents_what_it_answers_to_each_fault(
    signer_config, schema, calls, fault
):
    """Each operation's request, spoiled by `fault`: whatever it answers is documented for
    that operation (assert_documented)."""
    codes = set()
    for method, sent, response in fault_answers(signer_config, calls, fault):
        assert_documented(schema, method, sent, response)
        codes.add(answer_of(response)[1])
    assert fault.codes <= codes


NOT_PER_OPERATION = {
    "method_not_allowed",  # 405: a method the path has no operation for
    "internal_error",  # 500: a bug (the operator's log has the traceback)
    "http_error",  # any other HTTP error werkzeug raises (a static file's 416, say)
    # gunicorn's own answers, before the app sees the request (signer/gunicorn_conf.py):
    "uri_too_long",
    "headers_too_large",
    "expectation_failed",
    "not_implemented",
    "forbidden",
}
"""The answers no operation documents (docs/signer.md lists them with every other)."""


def test_every_code_the_signer_answers_is_checked_against_the_document():
    """Each code the signer's code can answer is sent to an operation above (REFUSALS), or
    to all of them (CONDITIONS, FAULTS), and its answer checked against the document; only
    the answers of no operation are left out."""
    checked = {refusal.code for refusal in REFUSALS.values()}
    for cases in (CONDITIONS, FAULTS):
        checked |= {code for case in cases.values() for code in case.codes}
    answered = signer_error_codes()
    assert answered >= NOT_PER_OPERATION
    assert not answered - NOT_PER_OPERATION - checked, (
        f"no request here gets {sorted(answered - NOT_PER_OPERATION - checked)}"
    )


def promised(schema) -> dict[tuple[str, str], set[tuple[int, str | None]]]:
    """Each signer operation's documented answers, as answer_of gives them: a refusal's
    status with each code it names (its example's, and each in backquotes in its
    description), any other answer's status alone."""
    codes = signer_error_codes()
    answers = {}
    for path, item in schema.raw_schema["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS or PUBLISHED_TAG in operation.get("tags", ()):
                continue
            pairs = set()
            for status, answer in operation["responses"].items():
                content = answer.get("content", {}).get("application/json", {})
                if content.get("schema") != ERROR_RESPONSE:
                    pairs.add((int(status), None))
                    continue
                named = {code for code in codes if f"`{code}`" in answer["description"]}
                pairs |= {(int(status), code) for code in named | {content["example"]["error"]}}
            answers[method.upper(), path] = pairs
    return answers


@pytest.mark.slow
def test_every_answer_an_operation_documents_is_one_it_gives(signer_config, schema, calls, places):
    """The other way round: every answer an operation's document promises, status and code,
    is one it gives to a request of the tests above (REFUSALS, and every operation's
    request in each of CONDITIONS and with each of FAULTS), sent again here. A client
    coding from the document handles nothing the operation never answers (/s3/list/{key}
    listed /s3/list's 400 for a continuation-token it ignores and 502 for a listing it never
    makes)."""
    answers = [(r.method, *refusal_answer(signer_config, r)) for r in REFUSALS.values()]
    for condition in CONDITIONS.values():
        answers += condition_answers(signer_config, calls, places, condition)
    for fault in FAULTS.values():
        answers += fault_answers(signer_config, calls, fault)
    given = defaultdict(set)
    for method, path, response in answers:
        operation = operation_of(schema, method, path)
        given[operation.method.upper(), operation.path].add(answer_of(response))
    never = {
        f"{method} {path}": sorted(pairs - given[method, path], key=str)
        for (method, path), pairs in promised(schema).items()
        if pairs - given[method, path]
    }
    assert not never, f"documented, never answered: {never}"


@pytest.mark.parametrize(
    ("template", "parameters", "settings"),
    [
        ("/s3/list/{key}", {"key": "data/hotkey=x/1.parquet"}, {}),
        ("/assignments/current", {}, {"SIGNER_PUBLISHED": "http://127.0.0.1:9/s46"}),
    ],
)
def test_redirects_send_the_location_they_document(
    signer_config, schema, template, parameters, settings
):
    app = create_app({**signer_config, **settings})
    query = _list_url(app).partition("?")[2]
    response = app.test_client().get(f"{template.format(**parameters)}?{query}")
    assert response.status_code == 302
    case = schema[template]["GET"].Case(path_parameters=parameters)
    case.validate_response(response, checks=CHECKS)
    answer = schema.raw_schema["paths"][template]["get"]["responses"]["302"]
    assert answer["headers"]["Location"]["required"] is True
    assert response.headers["Location"].startswith("http://127.0.0.1:9/")


@pytest.mark.parametrize(
    "path",
    [
        "/assignments/current",
        "/api/v1/zipcode-assignments/current",
        "/api/v1/zipcode-assignments/stats",
        "/healthcheck",
        "/readyz",
    ],
)
def test_public_answers_with_content_match_their_schema(schema, path):
    case = schema[path]["GET"].Case()
    response = case.call()
    assert response.status_code == 200, response.text
    case.validate_response(response, checks=CHECKS)


def test_legacy_epoch_and_status_answers_match_their_schema(schema, published):
    case = schema["/api/v1/zipcode-assignments/epoch/{epoch_id}"]["GET"].Case(
        path_parameters={"epoch_id": sc.EPOCH}
    )
    response = case.call()
    assert response.status_code == 200, response.text
    case.validate_response(response, checks=CHECKS)
    nonce = response.json()["nonce"]
    status = schema["/api/v1/zipcode-assignments/status"]["POST"].Case(
        body=sc.miner_status(nonce), media_type="application/json"
    )
    answer = status.call()
    assert answer.status_code == 200, answer.text
    status.validate_response(answer, checks=CHECKS)


def test_published_files_match_the_schemas_documented_for_the_cdn(schema, published):
    epoch_id = sc.EPOCH
    parameters = {"epochId": epoch_id}
    assert documented(schema, True) == {
        ("GET", "/index.json"),
        ("GET", "/current.json"),
        ("GET", "/epochs/{epochId}.json"),
        ("GET", "/sealed/{epochId}.tlock"),
    }
    with serve_folder(published) as cdn:
        for _, path in sorted(documented(schema, True)):
            operation = schema[path]["GET"]
            case = operation.Case(path_parameters=parameters if "{" in path else {})
            response = requests.get(cdn + case.formatted_path, timeout=10)
            assert response.status_code == 200, path
            case.validate_response(response, checks=CHECKS)
