"""The OpenAPI document, the offline Swagger UI at /docs, and the landing page."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import jsonschema_rs
import pytest
from bittensor_core import Keypair

from planner.jobs import tick
from planner.store import LocalStore
from signer import EXEMPT, create_app
from signer.bodylimit import FILE_URLS_MAX_BODY

from conftest import NOW
from servers import signer_client as sc

SIGNED = {
    ("post", "/get-folder-access"): "s3:data:access:{coldkey}:{hotkey}:{timestamp}",
    ("post", "/get-validator-access"): "s3:validator:access:{timestamp}",
    ("post", "/api/v1/s3-access/validator-upload"): "s3:validator:upload:{timestamp}",
    ("post", "/get-miner-list"): "s3:validator:miner:{miner_hotkey}:{timestamp}",
    ("post", "/get-miner-specific-access"): "s3:validator:miner:{miner_hotkey}:{timestamp}",
    ("post", "/get-file-presigned-urls"): "s3:validator:files:{miner_hotkey}:{hotkey}:{timestamp}",
}
PUBLIC = [
    ("get", "/assignments/current"),
    ("get", "/api/v1/zipcode-assignments/current"),
    ("get", "/healthz"),
    ("get", "/readyz"),
]
PUBLISHED = ["/index.json", "/current.json", "/epochs/{epochId}.json", "/sealed/{epochId}.tlock"]


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json


def test_document_is_openapi_3_1_with_every_endpoint(spec):
    assert spec["openapi"] == "3.1.0"
    operations = {(m, p) for p, item in spec["paths"].items() for m in item}
    assert set(SIGNED) | set(PUBLIC) <= operations
    assert {("get", p) for p in PUBLISHED} <= operations
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("method", "path"), list(SIGNED), ids=[p for _, p in SIGNED])
def test_signed_operations_document_message_security_body_and_errors(spec, method, path):
    operation = spec["paths"][path][method]
    assert f"`{SIGNED[method, path]}`" in operation["description"]
    assert operation["security"] == [{"hotkeySignature": []}, {"taoHeaders": []}]
    body = operation["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"].startswith("#/components/schemas/")
    assert {"hotkey", "timestamp", "signature"} <= set(body["example"])
    assert set(operation["responses"]) >= {"200", "400", "401", "403", "413", "422", "429", "503"}
    error = operation["responses"]["401"]["content"]["application/json"]
    assert error["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
    assert error["example"]["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/assignments/current"),
        ("get", "/api/v1/zipcode-assignments/current"),
        ("get", "/api/v1/zipcode-assignments/epoch/{epoch_id}"),
        ("post", "/api/v1/zipcode-assignments/status"),
    ],
)
def test_operations_reading_a_published_assignment_document_its_503(spec, method, path):
    """Each can answer 503 assignment_unavailable (a published file that cannot be read or
    used): its OpenAPI responses say so."""
    answers = spec["paths"][path][method]["responses"]
    assert "503" in answers
    assert "assignment_unavailable" in str(answers["503"])


def test_every_reference_resolves(spec):
    text = str(spec)
    for name in set(re.findall(r"#/components/schemas/([A-Za-z0-9_.-]+)", text)):
        assert name in spec["components"]["schemas"], name


def test_request_schemas_use_the_client_field_names(spec):
    schemas = spec["components"]["schemas"]
    folder = schemas["FolderAccessRequest"]
    assert {"coldkey", "hotkey", "timestamp", "signature"} <= set(folder["properties"])
    assert not folder.get("required"), "a header-signed request carries none of them"
    assert "epochId" in schemas["ValidatorUploadRequest"]["properties"]
    assert "continuation_token" in schemas["MinerListRequest"]["properties"]
    assert "global" in schemas["ValidatorUrls"]["properties"]


def test_a_miners_epoch_id_is_documented_as_an_optional_epoch_id(spec):
    """The unsigned epoch_id narrowing a miner's list_url, in the pattern the signer checks."""
    folder = spec["components"]["schemas"]["FolderAccessRequest"]["properties"]
    assert {"continuation_token", "epoch_id"} <= set(folder)
    (written, _) = folder["epoch_id"]["anyOf"]
    assert written["pattern"] == r"^\d{4}-\d{2}-\d{2}T\d{2}-00-00$"
    assert "epoch={epoch_id}/" in folder["epoch_id"]["description"]
    answer = spec["components"]["schemas"]["FolderAccessResponse"]["properties"]
    assert "epoch_id" in answer["list_url"]["description"]


def test_security_scheme_is_declared(spec):
    scheme = spec["components"]["securitySchemes"]["hotkeySignature"]
    assert scheme["type"] == "apiKey"
    assert "JSON body" in scheme["description"]
    headers = spec["components"]["securitySchemes"]["taoHeaders"]
    assert headers["in"] == "header"
    assert "sha256(body)" in headers["description"]
    operation = spec["paths"]["/get-file-presigned-urls"]["post"]
    assert operation["security"] == [{"hotkeySignature": []}, {"taoHeaders": []}]


def test_operations_that_validate_a_body_or_parameters_list_422_as_one_error(spec):
    """A 422 is one ErrorResponse (flask-openapi3's default says a list of them), listed
    where validation can refuse: a body, a path parameter, a query."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            validated = "requestBody" in operation or bool(operation.get("parameters"))
            published = "servers" in operation
            assert ("422" in operation["responses"]) == (validated and not published), (
                method,
                path,
            )
            if "422" in operation["responses"]:
                content = operation["responses"]["422"]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}


def test_published_files_have_the_cdn_as_their_server(signer_config):
    config = {**signer_config, "SIGNER_PUBLISHED": "http://127.0.0.1:9/s46"}
    spec = create_app(config).test_client().get("/openapi.json").json
    for path in PUBLISHED:
        assert spec["paths"][path]["get"]["servers"][0]["url"] == "http://127.0.0.1:9/s46"
    assert "servers" not in spec["paths"]["/healthz"]["get"]
    assert spec["paths"]["/current.json"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/Assignment"}
    assert "commitment" in spec["components"]["schemas"]["IndexEpoch"]["properties"]


def test_without_a_cdn_url_the_server_is_a_variable(spec):
    server = spec["paths"]["/index.json"]["get"]["servers"][0]
    assert server["url"] == "{cdn}"
    assert "SIGNER_CDN_URL" in server["description"]


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


def test_docs_page_uses_only_local_assets_that_exist(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    assert "validatorUrl: null" in html
    assert '"/openapi.json"' in html
    parser = _Assets()
    parser.feed(html)
    assert len(parser.urls) == 4
    for url in parser.urls:
        assert url.startswith("/docs/assets/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.data) > 100
    scripts = [u for u in parser.urls if u.endswith(".js")]
    assert {u.rsplit("/", 1)[1] for u in scripts} == {
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
    }


def test_landing_page_links_docs_and_current_assignment(client):
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'href="/docs"' in html
    assert 'href="/assignments/current"' in html
    assert "2026-11-25T16-00-00" in html
    assert "https://" not in html


def test_validation_errors_follow_the_documented_shape(client, spec):
    response = client.post("/get-miner-list", json={"hotkey": 1})
    assert response.status_code == 422
    documented = set(spec["components"]["schemas"]["ErrorResponse"]["properties"])
    assert set(response.json) <= documented
    assert {f["field"] for f in response.json["fields"]} == {"hotkey", "miner_hotkey"}


def _name(view) -> str:
    """A view's name, the same for flask-openapi3's wrapper and the function it wraps."""
    return f"{view.__module__}.{view.__qualname__}"


def _operations_of(app) -> dict[tuple[str, str], str]:
    """(method, OpenAPI path) of each route to the name of the view serving it."""
    views = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            views[method.lower(), path] = _name(app.view_functions[rule.endpoint])
    return views


def test_operations_the_address_limit_counts_document_429_and_retry_after(app, spec):
    """Every request but the probes' and object reads' counts against the per-address limit,
    so each other operation can answer 429, and 503 when the counters cannot be reached;
    both carry Retry-After (a 429 always)."""
    views = _operations_of(app)
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if "servers" in operation:
                continue  # a file on the CDN
            answers = operation["responses"]
            if views[method, path] in {_name(view) for view in EXEMPT}:
                assert "429" not in answers, (method, path)
                continue
            assert answers["429"]["headers"]["Retry-After"]["required"] is True, (method, path)
            assert "limits_unavailable" in answers["503"]["description"], (method, path)
            assert "Retry-After" in answers["503"]["headers"], (method, path)


def test_operations_taking_a_body_document_its_408(spec):
    """A body that stops arriving is a 408 request_timeout from the app (signer/body.py),
    whichever operation it was sent to (tests/test_signer_slow_clients.py sends them)."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                answer = operation["responses"]["408"]["content"]["application/json"]
                assert answer["example"]["error"] == "request_timeout", (method, path)


def test_validator_urls_are_described_as_what_they_are(spec):
    """/get-validator-access answers list URLs of this signer, which a client may page with
    start-after or continuation-token, and /get-file-presigned-urls serves the miner's
    validator folder too: a client reading only the document must learn both."""
    schemas = spec["components"]["schemas"]
    for schema, name in (("GlobalUrls", "list_all_data"), ("MinerUrls", "list_all_miners")):
        text = schemas[schema]["properties"][name]["description"]
        assert "/s3/list" in text and "continuation-token" in text, name
        assert "presigned" not in text, name
    access = spec["paths"]["/get-validator-access"]["post"]["description"]
    assert "`/s3/list` URLs" in access
    files = spec["paths"]["/get-file-presigned-urls"]["post"]["description"]
    assert "`validators/{miner_hotkey}/`" in files


def test_every_400_of_an_operation_taking_a_body_says_it_is_for_a_body_not_json(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                answer = operation["responses"]["400"]["description"]
                assert "not JSON" in answer, (method, path)


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [(m, p, text) for (m, p), text in SIGNED.items()]
    + [("post", "/api/v1/zipcode-assignments/status", "zipcode:status:{epochId}:{timestamp}")],
    ids=[p for _, p in SIGNED] + ["/api/v1/zipcode-assignments/status"],
)
def test_each_request_example_is_signed_over_its_documented_message(spec, method, path, message):
    """An example a client copies to check its own signing must verify (sr25519 signatures
    differ each time, so a client compares by verifying, not by equality)."""
    example = spec["paths"][path][method]["requestBody"]["content"]["application/json"]["example"]
    signed = message.format(**example).encode("utf-8")
    signature = bytes.fromhex(example["signature"].removeprefix("0x"))
    assert Keypair(ss58_address=example["hotkey"]).verify(signed, signature)


@pytest.mark.parametrize(
    "limit", [None, "1000", str(2 * 1024 * 1024)], ids=["default", "1000 bytes", "2 MiB"]
)
def test_each_413_example_names_the_limit_its_operation_applies(signer_config, limit):
    """A body one byte over an operation's limit gets the 413 its document shows, word for
    word, limit and all: SIGNER_MAX_BODY_BYTES sets every operation's limit, but
    /get-file-presigned-urls takes at least 1 MiB + 16 KiB (1,000 keys), never less than the
    others."""
    settings = {} if limit is None else {"SIGNER_MAX_BODY_BYTES": limit}
    configured = 16 * 1024 if limit is None else int(limit)
    client = create_app({**signer_config, **settings}).test_client()
    spec = client.get("/openapi.json").json
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if "requestBody" not in operation:
                continue
            example = operation["responses"]["413"]["content"]["application/json"]["example"]
            limit = int(re.search(r"larger than (\d+) bytes", example["detail"])[1])
            floor = FILE_URLS_MAX_BODY if path == "/get-file-presigned-urls" else 0
            assert limit == max(configured, floor), (method, path)
            fits = b"{" + b" " * (limit - 2) + b"}"
            for body, refused in ((fits, False), (fits + b" ", True)):
                answer = client.open(
                    path, method=method, data=body, content_type="application/json"
                )
                assert (answer.status_code == 413) is refused, (method, path, len(body))
            assert answer.json == example, (method, path)


def test_flask_openapi_prints_the_document_the_signer_serves(runner, client, tmp_path):
    """`flask --app signer openapi`, the command flask-openapi3 gives every app, prints and
    writes (-o) /openapi.json: not flask-openapi3's raw document, whose 413 examples still
    hold the `{limit}` placeholder and which lists neither the CDN files nor the X-Tao-*
    headers."""
    served = client.get("/openapi.json").json
    printed = runner.invoke(args=["openapi"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.output) == served
    written = runner.invoke(args=["openapi", "-o", str(tmp_path / "openapi.json")])
    assert written.exit_code == 0, written.output
    assert json.loads((tmp_path / "openapi.json").read_text()) == served


FORMATS = {
    "PresignedPost": {"url": "uri", "expiry": "date-time"},
    "FolderAccessResponse": {"list_url": "uri", "list_expiry": "date-time"},
    "FileUploadResponse": {"url": "uri"},
    "GlobalUrls": {"list_all_data": "uri"},
    "MinerUrls": {"list_all_miners": "uri"},
    "ValidatorAccessResponse": {"expiry": "date-time"},
    "MinerListResponse": {"list_url": "uri", "miner_url": "uri", "expiry": "date-time"},
    "FileUrl": {"presigned_url": "uri"},
    "MinerFilesResponse": {"expiry": "date-time"},
    "MinerStatusResponse": {"timestamp": "date-time"},
    "LegacyCurrentEpoch": {"startTime": "date-time", "endTime": "date-time"},
    "LegacyNextEpoch": {"startTime": "date-time"},
    "MetagraphStatus": {"fetchedAt": "date-time"},
}
ANSWERS = {
    "/get-folder-access": sc.folder_access,
    "/get-file-upload-url": sc.file_upload,
    "/get-validator-access": sc.validator_access,
    "/api/v1/s3-access/validator-upload": sc.validator_upload,
    "/get-miner-list": sc.miner_list,
    "/get-miner-specific-access": sc.miner_list,
    "/get-file-presigned-urls": sc.miner_files,
}


def _declared_format(schema: dict) -> str | None:
    return schema.get("format") or next(
        (option["format"] for option in schema.get("anyOf", ()) if "format" in option), None
    )


def test_times_and_urls_declare_the_format_the_answers_have(client, spec):
    """Every time an answer gives is an RFC 3339 date-time, every URL an absolute URI: the
    schemas say so, and real answers validate with formats checked."""
    schemas = spec["components"]["schemas"]
    for model, fields in FORMATS.items():
        for name, expected in fields.items():
            assert _declared_format(schemas[model]["properties"][name]) == expected, (model, name)
    answers = [("post", path, client.post(path, json=body())) for path, body in ANSWERS.items()]
    answers += [("get", "/readyz", client.get("/readyz"))]
    answers += [
        (
            "get",
            "/api/v1/zipcode-assignments/stats",
            client.get("/api/v1/zipcode-assignments/stats"),
        )
    ]
    for method, path, answer in answers:
        assert answer.status_code == 200, (path, answer.json)
        schema = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]
        checker = jsonschema_rs.validator_for(
            {**schema["schema"], "components": spec["components"]}, validate_formats=True
        )
        checker.validate(answer.json)


def test_each_422_example_is_what_its_operation_answers(client, spec):
    """The documented 422 is the answer to its example's request with a hotkey that is no
    SS58 address: the same code, detail and fields."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if "requestBody" not in operation:
                continue
            body = operation["requestBody"]["content"]["application/json"]["example"]
            wrong = {**body, "hotkey": "5" + "x" * 47}
            answer = client.open(path, method=method, json=wrong)
            example = operation["responses"]["422"]["content"]["application/json"]["example"]
            assert (answer.status_code, answer.json) == (422, example), (method, path)


EXAMPLE_ANSWERS = {
    ("/get-folder-access", 400): {"data": b"{", "content_type": "application/json"},
    ("/get-folder-access", 401): {"json": sc.folder_access(signer="//Alice")},
    ("/get-folder-access", 403): {"json": sc.folder_access(coldkey="//Alice")},
    ("/get-file-upload-url", 403): {"json": sc.file_upload(hotkey="//Nobody")},
    ("/get-validator-access", 403): {"json": sc.validator_access(hotkey="//Dave")},
    ("/get-file-presigned-urls", 400): {"json": sc.miner_files(keys=["validators/x"])},
    ("/api/v1/zipcode-assignments/status", 400): {"json": sc.miner_status("0")},
}


@pytest.mark.parametrize(("path", "status"), list(EXAMPLE_ANSWERS), ids=str)
def test_error_examples_are_answers_the_signer_gives(
    make_planner, signer_config, client, spec, path, status
):
    """A client matching on a documented example (a log filter, a test double) sees the
    same text from the signer: no example is shortened or reworded."""
    tick(make_planner(public=LocalStore(Path(signer_config["SIGNER_PUBLISHED"]))), NOW)
    answer = client.post(path, **EXAMPLE_ANSWERS[path, status])
    documented = spec["paths"][path]["post"]["responses"][str(status)]
    assert answer.status_code == status
    assert answer.json == documented["content"]["application/json"]["example"]


TAO_HEADERS = {
    "X-Tao-Version",
    "X-Tao-Timestamp",
    "X-Tao-Nonce",
    "X-Tao-Signed-By",
    "X-Tao-Signature",
}


def test_header_signed_operations_declare_the_tao_headers(client, spec):
    """A client built from the document (or Try it out) can send what header signing needs:
    each operation that takes it declares the five X-Tao-* headers, in the form the signer
    checks, and a real header-signed request meets those schemas and is answered."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if {"taoHeaders": []} in operation.get("security", ()):
                declared = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
                assert declared == TAO_HEADERS, (method, path)
    operation = spec["paths"]["/get-file-upload-url"]["post"]
    body = b'{"job_id": "zillow-pa", "filename": "data_1.parquet"}'
    headers = sc.tao_headers("//Bob", body, millis=sc.NOW * 1000)
    for parameter in operation["parameters"]:
        assert parameter["required"] is False, parameter["name"]
        jsonschema_rs.validate(parameter["schema"], headers[parameter["name"]])
    assert client.post("/get-file-upload-url", data=body, headers=headers).status_code == 200
