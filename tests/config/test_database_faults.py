"""PostgreSQL connections terminated under the web while incidents are declared: each request
gets its incident (201) or a 503 JSON error that says to retry, never a 500 or an HTML page,
never a half-written incident; and the web reconnects and goes on."""

import json

import pytest
from django.db import connection

from escalation.models import Escalation
from incidents.models import Incident, TimelineEvent
from tests.conftest import need_service
from tests.factories import UserFactory, token_for
from tests.helpers import gunicorn_serving, http, terminating_connections

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

REQUESTS = 150


def test_connections_terminated_during_declarations_give_201_or_503_json_never_half_written():
    need_service("PostgreSQL", connection.vendor == "postgresql")
    token = token_for(UserFactory(roles=["sysadmins"]))
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    answers = []
    with gunicorn_serving({"DB_CONN_MAX_AGE": "60"}) as url:
        with terminating_connections() as terminated:
            for n in range(REQUESTS):
                body = json.dumps({"title": f"declared under faults {n}", "severity": "P1"})
                answers.append(http("POST", f"{url}/api/v1/incidents/", body.encode(), headers))

        # Once the database is left alone the web reconnects and answers at once.
        after_body = b'{"title": "after", "severity": "P1"}'
        after = http("POST", f"{url}/api/v1/incidents/", after_body, headers)

    statuses = [status for status, _body, _headers in answers]
    assert sum(terminated) > 0
    assert set(statuses) <= {201, 503}, sorted(set(statuses))
    assert 503 in statuses, "no request met a terminated connection"
    for status, body, response_headers in answers:
        assert response_headers["Content-Type"].startswith("application/json")
        if status == 503:
            assert json.loads(body)["error"] == "database_unavailable"
            assert response_headers["Retry-After"] == "5"
    assert after[0] == 201, after

    # A request whose connection went after its commit answers 503 for a stored incident:
    # the client cannot tell, so retries must be safe; what is stored is always whole.
    incidents = Incident.objects.count()
    assert statuses.count(201) + 1 <= incidents <= REQUESTS + 1
    assert TimelineEvent.objects.filter(kind="declared").count() == incidents
    assert Escalation.objects.filter(level=1).count() == incidents
