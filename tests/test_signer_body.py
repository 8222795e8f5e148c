"""Request bodies: a JSON object or a JSON 4xx, decided once, before validation or signatures.

Deep nesting once raised RecursionError (a 500 with a logged traceback), and a JSON *string*
holding the object passed validation while the hotkey limiter keyed it as nobody, doubling a
miner's quota. Every body-taking endpoint is fuzzed here with what is not an object.
"""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder

from signer import create_app

from servers import signer_client as sc

SIGNED = {
    "/get-folder-access": sc.folder_access,
    "/get-validator-access": sc.validator_access,
    "/api/v1/s3-access/validator-upload": sc.validator_upload,
    "/get-miner-list": sc.miner_list,
    "/get-miner-specific-access": sc.miner_list,
    "/get-file-presigned-urls": sc.miner_files,
    "/get-file-upload-url": sc.file_upload,
    "/api/v1/zipcode-assignments/status": lambda: sc.miner_status("0" * 16),
}


def body_endpoints(app) -> set[str]:
    return {rule.rule for rule in app.url_map.iter_rules() if "POST" in rule.methods}


def test_every_endpoint_that_takes_a_body_is_covered(app):
    assert body_endpoints(app) == set(SIGNED)


@pytest.mark.parametrize("path", list(SIGNED))
def test_options_on_a_body_taking_endpoint_answers_its_methods(client, path):
    """It was a 400 "the request body must be JSON": OPTIONS sends no body."""
    response = client.options(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert set(response.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}


def assert_json_4xx(response, status: int | None = None) -> dict:
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:300]
    if status is not None:
        assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) >= {"error", "detail"} and body["error"] == "invalid_request"
    return body


def deep(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


DEEP = {
    "arrays": deep(5000),
    "objects": '{"a":' * 2500 + "1" + "}" * 2500,
    "an object holding deep arrays": '{"hotkey": ' + deep(5000) + "}",
    "unclosed": "[" * 8000,
}


@pytest.mark.parametrize("text", list(DEEP.values()), ids=list(DEEP))
@pytest.mark.parametrize("path", list(SIGNED))
def test_deeply_nested_json_is_400_and_logs_no_traceback(client, caplog, path, text):
    with caplog.at_level(logging.INFO, logger="signer"):
        response = client.post(path, data=text, content_type="application/json")
    body = assert_json_4xx(response, 400)
    assert "nested" in body["detail"] or "not valid JSON" in body["detail"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text


REFUSED = {
    "a string": ('"hello"', 422, "JSON object"),
    "a string holding the object": (None, 422, "JSON object"),
    "a number": ("42", 422, "JSON object"),
    "a huge number": ("9" * 5000, 400, "not valid JSON"),
    "an infinite number": ("1e999", 400, "not valid JSON"),
    "NaN": ('{"timestamp": NaN}', 400, "not valid JSON"),
    "null": ("null", 422, "JSON object"),
    "an array": ("[1, 2]", 422, "JSON object"),
    "duplicate keys": (None, 400, "twice"),
    "empty": ("", 400, "not valid JSON"),
    "invalid UTF-8": (b'{"hotkey": "\xff"}', 400, "not valid JSON"),
}


def refused_text(name: str) -> str | bytes:
    text = REFUSED[name][0]
    if text is not None:
        return text
    body = sc.folder_access()
    if name == "duplicate keys":
        forged = sc.address("//Charlie")
        return json.dumps(body)[:-1] + f', "hotkey": "{forged}"}}'
    return json.dumps(json.dumps(body))


@pytest.mark.parametrize("name", list(REFUSED))
def test_bodies_that_are_not_one_json_object_are_refused_with_the_reason(client, name):
    _, status, reason = REFUSED[name]
    response = client.post(
        "/get-folder-access", data=refused_text(name), content_type="application/json"
    )
    assert reason in assert_json_4xx(response, status)["detail"]


@pytest.mark.parametrize("digits", ["9" * 4301, "-" + "9" * 5000])
def test_a_number_with_too_many_digits_is_named_in_the_clients_terms(client, digits):
    """Python refuses to read an integer of more than 4,300 digits, and its message was the
    detail: "Exceeds the limit (4300 digits) for integer string conversion: ...; use
    sys.set_int_max_str_digits() to increase the limit", advice for the signer's code, not
    for whoever sent the body."""
    response = client.post(
        "/get-folder-access", data=f'{{"timestamp": {digits}}}', content_type="application/json"
    )
    assert assert_json_4xx(response, 400)["detail"] == (
        "the request body is not valid JSON: a number has more than 4300 digits"
    )


def test_a_body_starting_with_a_byte_order_mark_is_refused_saying_so(client):
    """A JSON object after a UTF-8 byte order mark (as some Windows tools write UTF-8) was
    refused as "not valid JSON (Expecting value: line 1 column 1 (char 0))", pointing at
    the object's opening brace as if it were missing."""
    body = b"\xef\xbb\xbf" + json.dumps(sc.folder_access()).encode()
    response = client.post("/get-folder-access", data=body, content_type="application/json")
    assert assert_json_4xx(response, 400)["detail"] == (
        "the request body is not valid JSON: it starts with a byte order mark (U+FEFF); "
        "send UTF-8 without one"
    )


def non_objects() -> st.SearchStrategy[str]:
    """JSON texts that are not an object, and deeply nested or duplicated objects (each
    within the 16 KB body limit, so what is refused is the shape, not the size)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**40), max_value=10**40),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=40),
    )
    values = st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children)
        ),
        max_leaves=12,
    )
    top = values.filter(lambda v: not isinstance(v, dict)).map(json.dumps)
    nested = st.tuples(
        st.integers(min_value=900, max_value=1400), st.sampled_from(["[", '{"k":', '{"hotkey":'])
    ).map(lambda t: t[1] * t[0] + "1" + ("]" if t[1] == "[" else "}") * t[0])
    duplicated = st.dictionaries(st.text(max_size=8), values, min_size=1, max_size=3).map(
        lambda d: json.dumps(d)[:-1] + ", " + json.dumps(d)[1:]
    )
    as_string = values.map(lambda v: json.dumps(json.dumps(v)))
    return st.one_of(top, nested, duplicated, as_string)


@pytest.mark.parametrize("path", list(SIGNED))
def test_fuzz_non_object_bodies_get_only_json_4xx(signer_config, path):
    client = create_app(
        {**signer_config, "SIGNER_RATELIMIT_ADDRESS": "1000000/minute"}
    ).test_client()

    @given(text=non_objects())
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    def refused(text):
        response = client.post(path, data=text, content_type="application/json")
        assert_json_4xx(response)

    refused()


def test_a_string_body_can_neither_bypass_nor_double_the_miner_limit(signer_config):
    client = create_app({**signer_config, "SIGNER_RATELIMIT_MINER": "3/hour"}).test_client()
    body = sc.folder_access()
    as_string = json.dumps(json.dumps(body))
    answers = []
    for _ in range(6):
        answers.append(client.post("/get-folder-access", json=body).status_code)
        as_text = client.post("/get-folder-access", data=as_string, content_type="application/json")
        assert_json_4xx(as_text, 422)
    assert answers == [200, 200, 200, 429, 429, 429]


def test_the_limiter_keys_the_hotkey_that_is_verified(signer_config):
    """A second `hotkey` key can no longer make the limiter count one hotkey and verify another."""
    client = create_app({**signer_config, "SIGNER_RATELIMIT_MINER": "1/hour"}).test_client()
    body = sc.folder_access()
    assert client.post("/get-folder-access", json=body).status_code == 200
    smuggled = '{"hotkey": "' + sc.address("//Charlie") + '", ' + json.dumps(body)[1:]
    response = client.post("/get-folder-access", data=smuggled, content_type="application/json")
    assert "twice" in assert_json_4xx(response, 400)["detail"]


class CountedInput:
    """A WSGI input that counts the calls made to read it, as gunicorn's reader would see."""

    def __init__(self, data: bytes) -> None:
        self.data, self.calls = data, 0

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        size = len(self.data) if size is None or size < 0 else size
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk


def post_environ(body: bytes, **extra: object) -> dict:
    """A POST of `body` to /get-folder-access as a server that terminates its input gives it."""
    environ = EnvironBuilder(
        path="/get-folder-access", method="POST", data=body, content_type="application/json"
    ).get_environ()
    environ.update({"wsgi.input": CountedInput(body), "wsgi.input_terminated": True, **extra})
    return environ


def answer(app, environ: dict) -> tuple[int, dict]:
    status: list[str] = []
    chunks = app.wsgi_app(environ, lambda s, headers, exc=None: status.append(s))
    return int(status[0].split()[0]), json.loads(b"".join(chunks))


def test_a_body_of_declared_length_is_read_in_one_call(app):
    environ = post_environ(json.dumps(sc.folder_access()).encode())
    status, body = answer(app, environ)
    assert status == 200, body
    assert body["folder"].startswith("data/hotkey=")
    assert environ["wsgi.input"].calls == 1


def test_a_chunked_body_is_read_through_werkzeug(app):
    environ = post_environ(
        json.dumps(sc.folder_access()).encode(), HTTP_TRANSFER_ENCODING="chunked"
    )
    del environ["CONTENT_LENGTH"]
    status, body = answer(app, environ)
    assert status == 200, body
    assert environ["wsgi.input"].calls > 1, "read until exhausted, as werkzeug does"


@pytest.mark.parametrize("declared", ["12abc", "\u00b2", "-5", " 40"])
def test_a_malformed_content_length_is_left_to_werkzeug(app, declared):
    """gunicorn refuses these itself; another server's are werkzeug's to read, never a 500."""
    environ = post_environ(json.dumps(sc.folder_access()).encode(), CONTENT_LENGTH=declared)
    status, body = answer(app, environ)
    assert status == 200, body
    assert environ["wsgi.input"].calls > 1


def test_a_declared_length_over_the_limit_is_413_unread(app):
    environ = post_environ(b"{}", CONTENT_LENGTH=str(10**9))
    status, body = answer(app, environ)
    assert (status, body["error"]) == (413, "payload_too_large")
    assert environ["wsgi.input"].calls == 0


def test_a_body_shorter_than_its_content_length_is_400(app):
    """The client stopped sending: what arrived must not pass for the whole body."""
    environ = post_environ(b"{}", CONTENT_LENGTH="400")
    status, body = answer(app, environ)
    assert (status, body["error"]) == (400, "invalid_request")
    assert "ended after 2 of the 400 bytes" in body["detail"]


class BrokenInput(CountedInput):
    """A server's input whose reader fails on the body (gunicorn: InvalidChunkSize, ...)."""

    def read(self, size: int = -1) -> bytes:
        raise MalformedChunk("chunk size QQQ")


class MalformedChunk(Exception):
    pass


def test_a_body_the_servers_reader_fails_on_is_400_without_a_traceback(app, caplog):
    environ = post_environ(b"{}", HTTP_TRANSFER_ENCODING="chunked")
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input"] = BrokenInput(b"")
    with caplog.at_level(logging.INFO):
        status, body = answer(app, environ)
    assert (status, body["error"]) == (400, "invalid_request")
    assert "(MalformedChunk)" in body["detail"] and "QQQ" not in body["detail"]
    assert "Traceback" not in caplog.text and "QQQ" not in caplog.text


def test_a_chunked_body_over_the_limit_is_still_413(app):
    environ = post_environ(b"[" + b"0," * app.config["MAX_CONTENT_LENGTH"] + b"0]")
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    del environ["CONTENT_LENGTH"]
    status, body = answer(app, environ)
    assert (status, body["error"]) == (413, "payload_too_large")
