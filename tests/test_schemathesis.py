"""The signer's OpenAPI document is a contract its answers keep, checked by schemathesis.

Generated requests (valid and invalid) go to every signer operation on the WSGI app; each
answer must not be a 5xx and must match what the document promises for it: a documented
status code, the documented content type and headers, and a body valid against the
response schema. Fuzzing cannot forge a signature, so correctly signed requests for every
credential endpoint are validated the same way, and the planner's real published files
are checked against the schemas the document gives them on the CDN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
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
from signer.docs import PUBLISHED_TAG
from signer.services import services

from conftest import NOW
from servers import signer_client as sc
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


# In a path, `{list}` is a list URL the signer under test grants and `{query}` its query.
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


def _list_url(app) -> str:
    """The path and query of a list URL of `app`, as /get-validator-access grants it."""
    with app.test_request_context():
        url = listing.list_url(services(), ["data/hotkey="], 3600)
    return url.removeprefix("http://localhost")


def path_parameters(template: str, path: str) -> dict[str, str]:
    """The values a concrete path gives the `{name}` segments of its template."""
    return {
        name[1:-1]: value
        for name, value in zip(template.split("/"), path.split("/"), strict=True)
        if name.startswith("{")
    }


@pytest.mark.parametrize("refusal", list(REFUSALS.values()), ids=list(REFUSALS))
def test_each_refusal_is_documented_for_its_operation(signer_config, schema, refusal):
    """What a client coding from /openapi.json must find for each refusal: its status among
    the operation's responses, an ErrorResponse body, and the headers it carries."""
    app = create_app({**signer_config, **refusal.settings})
    url = _list_url(app)
    path = refusal.path.format(list=url, query=url.partition("?")[2])
    client = app.test_client()
    for _ in range(refusal.times):
        response = client.open(path, method=refusal.method, **refusal.request)
    assert (response.status_code, response.json["error"]) == (refusal.status, refusal.code)

    route = path.partition("?")[0]
    operation = schema.find_operation_by_path(refusal.method, route)
    assert operation is not None, path
    case = operation.Case(path_parameters=path_parameters(operation.path, route))
    # A 5xx is what these refusals are; the other checks still hold.
    case.validate_response(response, checks=CHECKS[1:] if refusal.status >= 500 else CHECKS)
    answers = schema.raw_schema["paths"][operation.path][refusal.method.lower()]["responses"]
    answer = answers[str(refusal.status)]
    assert answer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    for header in ("Retry-After", "Allow"):
        if header in response.headers:
            assert header in answer.get("headers", {}), header


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
