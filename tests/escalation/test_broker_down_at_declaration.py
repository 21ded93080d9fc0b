"""Broker unreachable when the API declares: 201 anyway, and the sweeper escalates later."""

import time

import pytest

from escalation.models import Escalation
from tests.escalation.conftest import make_policy, publishing_to
from tests.helpers import free_port, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_the_api_answers_201_and_the_escalation_happens_through_the_sweeper(
    worker, smtp, sysadmin, api
):
    make_policy("live", levels=[(1, 0, ["l1@x.test"], ""), (2, 2, ["l2@x.test"], "")])
    with publishing_to(f"redis://127.0.0.1:{free_port()}/0"):
        started = time.monotonic()
        response = api.as_user(sysadmin).post(
            "/api/v1/incidents/",
            {"title": "ブローカー停止中", "severity": "P1", "policy": "live"},
            format="json",
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 201, response.content
    assert elapsed < 10
    key = response.json()["key"]

    # Neither the notice task nor the ETA task was published: the worker's sweepers do both.
    assert wait_for(lambda: smtp.mailbox.to("l2@x.test"), timeout=15)
    wait_for(lambda: False, timeout=1.5)
    assert sorted(smtp.mailbox.addresses()) == ["l1@x.test", "l2@x.test"]
    assert Escalation.objects.filter(incident_id=int(key[4:])).count() == 2
