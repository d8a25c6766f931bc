"""Schemathesis against the designer's routes of an app whose definitions are stored: generated requests get
no 500 and no answer the description does not allow."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from .designer_kit import CLAIMS, served
from .test_api_schemathesis import CHECKS


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_generated_designer_requests_conform_to_the_description(make_app, db_url):
    with served(str(make_app(CLAIMS, name="claims")), db_url) as s:
        headers = s.h["des"]
        schema = schemathesis.openapi.from_asgi("/openapi.json", s.client.app, headers=headers)
        ran = 0
        for result in schema.get_all_operations():
            operation = result.ok()
            if not operation.path.startswith("/api/v1/designer"):
                continue

            @given(case=operation.as_strategy())
            @settings(max_examples=15, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            def check(case):
                case.call_and_validate(headers=headers, checks=CHECKS)

            check()
            ran += 1
        assert ran == 14
