"""/api/health checks every moving part: 200 while ok or degraded, 503 when failing; figures
only for staff and API tokens.

The checks run side by side on threads with connections of their own, as in production, so
these tests commit what they set up (transactional database)."""

import threading
import time
from datetime import timedelta

import pytest
from django.db.utils import OperationalError
from django.utils import timezone

from notices.models import Notice
from ops import health
from pulses.models import Pulse
from pulses.services import pulse_record
from tests.escalation.conftest import make_policy
from tests.factories import IncidentFactory, token_for

CHECKS = {
    "database",
    "broker",
    "notices worker",
    "timers worker",
    "chat worker",
    "scheduler",
    "alert processor",
    "outbox",
    "alert deliveries",
    "overdue escalations",
}


pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alive(transactional_db):
    """Every process of `make run` has just written its pulse."""
    for name in ("worker:celery", "worker:timers", "worker:chat", "sweeper", "alerts:lane:1/1"):
        pulse_record(name, force=True)


def test_everything_alive_is_ok_and_anonymous_callers_see_only_statuses(client, alive):
    response = client.get("/api/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == CHECKS
    assert all(check == {"status": "ok"} for check in body["checks"].values())


def test_staff_and_api_tokens_also_see_the_figures(client, alive, make_user):
    token = token_for(make_user("integrations", is_staff=False))

    with_token = client.get("/api/health", HTTP_AUTHORIZATION=f"Token {token}").json()
    client.force_login(make_user("operations"))
    as_staff = client.get("/api/health").json()

    for body in (with_token, as_staff):
        assert body["checks"]["outbox"] == {"status": "ok", "pending": 0, "oldest_pending_s": None}
        assert body["checks"]["overdue escalations"]["overdue"] == 0


def test_a_stalled_sweeper_is_a_503_naming_the_scheduler(client, alive, settings):
    Pulse.objects.filter(name="sweeper").update(
        at=timezone.now() - timedelta(seconds=3 * settings.ESCALATION_SWEEP_SECONDS + 1)
    )

    response = client.get("/api/health")

    assert response.status_code == 503
    assert response.json()["status"] == "failing"
    assert response.json()["failing"] == ["scheduler"]


def test_an_escalation_overdue_is_a_503(client, alive):
    IncidentFactory(next_escalation_at=timezone.now() - timedelta(minutes=1))

    response = client.get("/api/health")

    assert response.status_code == 503
    assert response.json()["failing"] == ["overdue escalations"]


def test_a_worker_without_a_pulse_is_degraded_not_failing(client, alive):
    Pulse.objects.filter(name="worker:chat").delete()

    response = client.get("/api/health")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["chat worker"] == {"status": "degraded"}


def test_a_notice_stuck_pending_makes_the_outbox_degraded(client, alive, declare, settings):
    make_policy("stuck", levels=[(1, 0, ["ops@x.test"], "")])
    declare(policy_name="stuck")
    stuck_since = timezone.now() - timedelta(seconds=settings.NOTICE_STUCK_SECONDS + 5)
    Notice.objects.update(created_at=stuck_since)

    response = client.get("/api/health")

    assert response.status_code == 200
    assert response.json()["checks"]["outbox"] == {"status": "degraded"}


def test_the_database_not_answering_is_a_503(client, alive, monkeypatch):
    class Unreachable:
        def cursor(self):
            raise OperationalError("connection refused")

        def close(self):
            pass

    monkeypatch.setattr("ops.health.connection", Unreachable())

    response = client.get("/api/health")

    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"status": "failing"}
    assert "database" in response.json()["failing"]


def test_a_check_that_hangs_counts_as_failing_instead_of_hanging_the_answer(
    client, alive, monkeypatch
):
    released = threading.Event()
    monkeypatch.setattr(health.OverdueEscalations, "inspect", lambda self: released.wait(60))
    started = time.monotonic()
    try:
        response = client.get("/api/health")
    finally:
        released.set()

    assert time.monotonic() - started < 30  # the check alone would have held it 60 s
    assert response.status_code == 503
    assert response.json()["checks"]["overdue escalations"] == {"status": "failing"}


def test_the_liveness_probe_only_asks_the_database(client):
    response = client.get("/api/health/live")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
