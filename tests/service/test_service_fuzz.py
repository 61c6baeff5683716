"""Schemathesis against the running service, driven by its own /openapi.json.

Every operation gets schema-valid and schema-violating requests; the checks: no response >= 500,
every status and content type documented, every body (problem+json included) matching the spec.
Bounded and derandomized by the Hypothesis profile (tests/conftest.py); docs/service.md says how
to run it longer.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

pytestmark = pytest.mark.slow

API_KEY = "fuzz-key"


@pytest.fixture
def api_schema(served_url):
    return schemathesis.openapi.from_url(served_url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=settings().max_examples // 2)
def test_every_answer_is_documented_and_never_a_server_error(case):
    # A schema-valid "binary" need not be an image: refusing it (400/415/422) is right, so the
    # check that every schema-valid request succeeds does not apply here.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
