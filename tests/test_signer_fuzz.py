"""Generated requests from the signer's own OpenAPI document: none may get a 500 or HTML."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from signer import create_app
from signer.docs import PUBLISHED_TAG


def test_no_generated_request_breaks_the_signer(signer_config):
    app = create_app({**signer_config, "SIGNER_RATELIMIT_ADDRESS": "100000/minute"})
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app).exclude(tag=PUBLISHED_TAG)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 10

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        def survives(case):
            response = case.call()
            assert response.status_code != 500, (case.method, case.path, response.text)
            (content_type,) = response.headers["content-type"]
            assert content_type.startswith("application/json"), (case.method, case.path)

        survives()
