"""The signer's OpenAPI document is a contract its answers keep, checked by schemathesis.

Generated requests (valid and invalid) go to every signer operation on the WSGI app; each
answer must not be a 5xx and must match what the document promises for it: a documented
status code, the documented content type and headers, and a body valid against the
response schema. Fuzzing cannot forge a signature, so correctly signed requests for every
credential endpoint are validated the same way, and the planner's real published files
are checked against the schemas the document gives them on the CDN.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

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
from signer import create_app
from signer.docs import PUBLISHED_TAG

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
