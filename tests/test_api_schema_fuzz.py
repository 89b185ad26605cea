"""Schemathesis against /api/v1/openapi.json: generated requests to every operation, with a valid
token, must never get a 5xx. The number of examples is bounded to keep CI short
(EF_FUZZ_EXAMPLES raises it for a deeper local run)."""

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from editfactory.wsgi import application

EXAMPLES = int(os.environ.get("EF_FUZZ_EXAMPLES", "8"))

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


@pytest.fixture
def in_test_transaction():
    """As Django's test client does: a request must not close the test's database connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def auth_headers(user, in_test_transaction):
    from core.auth import api_token_create

    return {"Authorization": f"Bearer {api_token_create(user=user, name='fuzz')[1]}"}


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_operation_answers_5xx(case, auth_headers):
    if case.path.endswith("/audio/voices"):
        # edge/elevenlabs are network services (503 when unreachable): tests use no network
        case.query = {**(case.query or {}), "provider": "offline"}
    response = case.call(headers=auth_headers)
    case.validate_response(response, checks=(not_a_server_error,))
