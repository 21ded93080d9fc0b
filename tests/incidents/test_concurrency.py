"""Two responders pressing at the same moment: exactly one wins, the other gets a 409."""

import threading

import pytest
from django.db import connection, connections

from incidents.models import Incident, State
from tests.conftest import need_service
from tests.factories import IncidentFactory, UserFactory, token_for


# Pairs where neither action is allowed after the other, so serialising them cannot help.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("first", "second"), [("acknowledge", "acknowledge"), ("dismiss", "resolve")]
)
def test_concurrent_transitions_exactly_one_wins(first, second):
    need_service("PostgreSQL", connection.vendor == "postgresql")
    from django.contrib.auth.models import Group
    from rest_framework.test import APIClient

    user = UserFactory()
    user.groups.add(Group.objects.get(name="sysadmins"))
    token = token_for(user)
    incident = IncidentFactory(state=State.DETECTED)
    barrier = threading.Barrier(2)
    results = []

    def press(action):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        barrier.wait()
        try:
            response = client.post(
                f"/api/v1/incidents/{incident.key}/{action}/", {"reason": "誤検知"}, format="json"
            )
            results.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=press, args=(a,)) for a in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == [200, 409]
    incident = Incident.objects.get(pk=incident.pk)
    transitions = incident.timeline.filter(kind__in=[first, second]).count()
    assert transitions == 1
