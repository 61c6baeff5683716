"""Schemathesis against the running service, driven by its own /openapi.json.

Every operation gets schema-valid and schema-violating requests, once without a key and once with
the admin key (which may also predict), on a service with enrolment on: its writes land in a
temporary data folder. The checks: no response >= 500, every status and content type documented,
every body (problem+json included) matching the spec, and every operation that declares a key
refusing a request without one. Bounded and derandomized by the Hypothesis profile
(tests/conftest.py); docs/service.md says how to run it longer.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import schemathesis
from hypothesis import settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

pytestmark = pytest.mark.slow

API_KEY, ADMIN_KEY = "fuzz-key", "fuzz-admin-key"


@pytest.fixture
def api_schema(make_app, people_config, serve_app):
    app = make_app(replace(people_config, api_keys=(API_KEY,), admin_keys=(ADMIN_KEY,)))
    return schemathesis.openapi.from_url(serve_app(app) + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=settings().max_examples // 4)
def test_every_answer_without_a_key_is_documented(case):
    # A schema-valid "binary" need not be an image: refusing it (400/415/422) is right, so the
    # check that every schema-valid request succeeds does not apply here (nor without a key).
    case.call_and_validate(excluded_checks=[positive_data_acceptance])


@schema.parametrize()
@settings(max_examples=settings().max_examples // 2)
def test_every_answer_with_the_admin_key_is_documented_and_never_a_server_error(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN_KEY}"}, excluded_checks=[positive_data_acceptance])
