"""Schemathesis against the served app: generated requests for every operation of the OpenAPI description
get no 500 and no response that contradicts the description (status, content type, headers, body)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .api_apps import SHOP, order_body, seed
from .api_kit import bearer, served

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
SKIP = {"revokeToken", "signOut"}  # would end the very token or session the run uses
EXAMPLES = 12


@pytest.mark.parametrize("user", ["root", "ann"])
def test_generated_requests_conform_to_the_description(make_app, db_url, user):
    with served(make_app(SHOP, name="shop"), db_url) as (app, client):
        tokens = seed(app)
        client.post("/api/v1/records/order", json=order_body(), headers=bearer(tokens["ann"]))
        headers = bearer(tokens[user])
        schema = schemathesis.openapi.from_asgi("/openapi.json", client.app, headers=headers)
        ran = 0
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.definition.raw.get("operationId") in SKIP:
                continue

            @given(case=operation.as_strategy())
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            def check(case):
                case.call_and_validate(headers=headers, checks=CHECKS)

            check()
            ran += 1
        assert ran > 15
