"""The API against its own OpenAPI schema: requests generated from /api/schema/, sent with a
manager's token into the application itself, never get a 5xx, and every answer (errors
included) has a status code, content type and body the schema documents."""

from __future__ import annotations

import logging
from collections import Counter

import pytest
import schemathesis
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)

from tests.factories import token_for
from tests.hostile import rolled_back, tally

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Random cases per operation and generation mode (positive, negative), beside the coverage
# phase's (each boundary, each wrong type of every field and parameter): 2,500 requests or so.
EXAMPLES = 5
MINIMUM_CASES = 1_000
SCENARIOS = 40
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)

# Served by the application itself, as a client reads it; no database behind the schema view.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())
# Methods the schema does not list get DRF's own 405 before any code of ours runs.
schema.config.phases.coverage.unexpected_methods = set()
OPERATIONS = sum(1 for _ in schema.get_all_operations())
sent: Counter[str] = Counter()

pytestmark = pytest.mark.hostile


@pytest.fixture(autouse=True)
def _quiet_refusals():
    """Thousands of 4xx would each be logged as a warning; a 5xx is still logged (and fails)."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@pytest.fixture(autouse=True)
def _one_connection():
    """Requests run inside the test's transaction: like the test client, keep the connection
    open between requests instead of closing it after each one."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def manager_headers(make_user):
    return {"Authorization": f"Token {token_for(make_user('managers'))}"}


@pytest.fixture(scope="module")
def counted():
    """How many requests the generated tests sent: checked once every operation had its turn."""
    yield sent
    if len(sent) == OPERATIONS:
        assert sum(sent.values()) >= MINIMUM_CASES, sent


@schema.parametrize()
@FUZZ
def test_every_answer_is_documented_and_none_is_a_server_error(
    case, manager_headers, counted, request
):
    sent[f"{case.method} {case.operation.path}"] += 1
    # The throttle counts every request; thousands in a minute would all be 429s.
    cache.clear()
    with rolled_back():
        response = case.call(headers=manager_headers)
        tally(request.node, "cases")
        tally(request.node, "server_errors", int(response.status_code >= 500))
        case.validate_response(response, checks=CHECKS, headers=manager_headers)


def test_sequences_of_calls_linked_by_the_schema(manager_headers, request):
    """Declare, act on, read, change and delete in sequence, each call fed by an earlier
    answer (the links schemathesis infers from the schema); what was created can be read, what
    was deleted cannot."""
    checks = [*CHECKS, ensure_resource_availability, use_after_free]

    class Workflow(schema.as_state_machine()):
        def setup(self):
            self.scenario = rolled_back()
            self.scenario.__enter__()

        def teardown(self):
            self.scenario.__exit__(None, None, None)

        def before_call(self, case):
            cache.clear()
            case.headers = {**(case.headers or {}), **manager_headers}

        def after_call(self, response, case):
            super().after_call(response, case)
            tally(request.node, "cases")
            tally(request.node, "server_errors", int(response.status_code >= 500))

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(
                response, checks=checks, transport_kwargs=kwargs or None, recorder=self.recorder
            )

    Workflow.run(settings=settings(FUZZ, max_examples=SCENARIOS, stateful_step_count=8))
