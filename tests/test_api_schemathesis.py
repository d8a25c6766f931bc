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
# decision tables: one over orders (granted to sales), one over named inputs (admin only), one collecting
DECISIONS = {
    "decisions/order_review.yaml": """
        name: order_review
        label: {en: Order review, zh: 订单审核}
        entity: order
        hit_policy: FIRST
        inputs: [{name: total}, {name: rush}]
        outputs:
          - {name: review, type: string, values: [none, manager, director], default: none}
          - {name: days, type: integer}
        rules:
          - ["> 1000", "-", director, 3]
          - ["-", "true", manager, 1]
    """,
    "decisions/discount.yaml": """
        name: discount
        hit_policy: C+
        inputs:
          - {name: amount, type: decimal}
          - {name: tier, type: string, values: [gold, std]}
          - {name: member, type: boolean}
        outputs: [{name: pct, type: decimal}]
        rules:
          - ["> 100", "-", "-", 2.5]
          - ["-", '"gold"', "true", 5]
    """,
    "decisions/tags.yaml": """
        name: tags
        hit_policy: COLLECT
        inputs: [{name: n, type: integer}]
        outputs: [{name: tag, type: string, values: [big, odd]}]
        rules:
          - [">= 10", big]
          - ["not(2, 4, 6, 8)", odd]
    """,
}
GRANT = "              - {report: orders_by_status}\n          manager:"
SKIP = {"revokeToken", "signOut"}  # would end the very token or session the run uses
EXAMPLES = 12


@pytest.mark.parametrize("user", ["root", "ann"])
def test_generated_requests_conform_to_the_description(make_app, db_url, user):
    roles = SHOP["roles.yaml"].replace(GRANT, GRANT.replace("\n", "\n              - {decision: order_review}\n", 1))
    assert roles != SHOP["roles.yaml"]
    with served(make_app({**SHOP, **DECISIONS, "roles.yaml": roles}, name="shop"), db_url) as (app, client):
        tokens = seed(app)
        client.post("/api/v1/records/order", json=order_body(), headers=bearer(tokens["ann"]))
        headers = bearer(tokens[user])
        described = client.get("/openapi.json", headers=headers).json()["paths"]
        decided = sorted(p for p in described if p.startswith("/api/v1/decisions/"))
        assert decided == ["/api/v1/decisions/" + n for n in (
            ["discount", "order_review", "tags"] if user == "root" else ["order_review"])]
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
