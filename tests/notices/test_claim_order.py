"""The outbox's claim: most severe incident first (notices of no incident last), then oldest,
as the incident's severity stands when claiming, and at the cost of its batch, not the backlog."""

import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents.models import Incident
from notices.models import Delivery, Notice
from notices.services import _claim_notices
from tests.conftest import need_service
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def queue(count, *, incident=None, prefix="r"):
    """`count` pending e-mail notices of `incident` (or of none)."""
    return Notice.objects.bulk_create(
        Notice(
            kind=Notice.Kind.MESSAGE,
            incident=incident,
            recipient=f"{prefix}{n}@x.test",
            delivery=Delivery.IMMEDIATE,
            data={"subject": "s", "text": "本文"},
        )
        for n in range(count)
    )


def claim(limit=50):
    return _claim_notices(now=timezone.now(), ids=None, limit=limit)


def test_p0_is_claimed_before_an_older_p1_backlog_and_notices_of_no_incident_last():
    loose = queue(3, prefix="loose")
    backlog = queue(60, incident=IncidentFactory(severity="P1"))
    p0 = queue(2, incident=IncidentFactory(severity="P0"), prefix="p0-")

    first = claim(limit=10)
    rest = claim(limit=100)

    assert first == sorted([n.pk for n in p0] + [n.pk for n in backlog[:8]])
    assert rest == sorted([n.pk for n in backlog[8:]] + [n.pk for n in loose])
    assert claim() == []


def test_the_claim_follows_a_severity_changed_after_the_notices_were_written():
    raised = IncidentFactory(severity="P3")
    lowered = IncidentFactory(severity="P0")
    later = queue(5, incident=raised, prefix="raised")
    queue(5, incident=lowered, prefix="lowered")

    Incident.objects.filter(pk=raised.pk).update(severity="P0")  # in bulk
    lowered.severity = "P2"
    lowered.save()  # one incident

    assert claim(limit=5) == [n.pk for n in later]


def test_a_notice_moved_to_another_incident_takes_its_severity():
    notice = queue(1, incident=IncidentFactory(severity="P3"))[0]
    queue(3, incident=IncidentFactory(severity="P1"))

    notice.incident = IncidentFactory(severity="P0")
    notice.save()

    assert claim(limit=1) == [notice.pk]


def claim_queries():
    with CaptureQueriesContext(connection) as queries:
        assert len(claim()) == 50
    return [q["sql"] for q in queries.captured_queries]


def test_a_claim_costs_its_batch_whatever_the_backlog():
    need_service("PostgreSQL", connection.vendor == "postgresql")  # its plan is PostgreSQL's
    incident = IncidentFactory(severity="P1")
    queue(100, incident=incident)
    queue(5, incident=IncidentFactory(severity="P0"), prefix="p0-")
    small = claim_queries()
    queue(2000, incident=incident, prefix="more")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE escalation_notice")
    large = claim_queries()

    assert len(small) == len(large)
    update = next(sql for sql in large if sql.startswith("WITH"))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {update}")
        plan = json.dumps(cursor.fetchone()[0])
        transaction.set_rollback(True)
    # An index walk in the claim's order that stops at the batch: nothing sorts the backlog.
    assert "notice_claim_email" in plan
    assert '"Sort"' not in plan
