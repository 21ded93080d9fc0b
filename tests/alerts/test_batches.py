"""The alert processor opens a batch's new incidents together: the same rows as one at a time,
a number of statements that does not grow with the batch, and a failing delivery isolated."""

import re
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models

from alerts import batches
from alerts.models import Alert, AlertGroup, AlertKey
from checklists.models import ChecklistRun, RunItem
from config.base import SYSTEM
from config.memo import batch_memo
from escalation.models import Escalation
from incidents.models import Incident, TimelineEvent
from integrations.models import AlertDelivery
from integrations.services import (
    _deliveries_apply_each,
    _deliveries_apply_together,
    deliveries_process,
    integration_create,
    integration_update,
)
from notices.models import Notice
from tests.conftest import need_service
from tests.helpers import running_database_url

ARRIVED = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
ENDED = "2026-12-01T03:30:00Z"


def alert(group: str, fingerprint: str = "", status: str = "firing", severity: str = "warning"):
    """An Alertmanager notification of one group with one alert in it."""
    return {
        "version": "4",
        "status": status,
        "receiver": "hikeshi",
        "groupKey": f'{{}}:{{alertname="{group}"}}',
        "groupLabels": {"alertname": group},
        "commonLabels": {},
        "commonAnnotations": {},
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": group, "severity": severity, "fp": fingerprint},
                "annotations": {"summary": f"{group} {fingerprint}".strip()},
                "startsAt": "2026-12-01T02:59:00Z",
                "endsAt": ENDED if status == "resolved" else "0001-01-01T00:00:00Z",
                "fingerprint": fingerprint or group,
            }
        ],
    }


@pytest.fixture
def alertmanager(db):
    return integration_create(name="batch-prom", kind="alertmanager", actor=SYSTEM)[0]


def waiting(integration, bodies, start=0):
    """Deliveries as the intake stores them, each arriving a second after the one before."""
    for n, body in enumerate(bodies, start):
        delivery = AlertDelivery.objects.create(integration=integration, body=body)
        AlertDelivery.objects.filter(pk=delivery.pk).update(
            received_at=ARRIVED + timedelta(seconds=n)
        )


def apply_together() -> int:
    with batch_memo():  # as deliveries_process; called directly, a failure is not retried
        return _deliveries_apply_together(AlertDelivery.objects.order_by("id"), 100)


def apply_each() -> int:
    with batch_memo():
        return _deliveries_apply_each(AlertDelivery.objects.order_by("id"), 100)


# What differs between two runs with the same input: row ids and the clock at processing time.
VARYING = {"id", "created_at", "updated_at", "fired_at", "timestamp", "cid"}
PROCESSED_AT = {TimelineEvent.Kind.DECLARED, TimelineEvent.Kind.ESCALATED, "resolve"}


def _stable(model, row: dict, titles: dict[int, str], runs: dict[int, tuple]) -> tuple:
    values = {}
    for f in model._meta.concrete_fields:
        if f.name in VARYING:
            continue
        value = row[f.attname]
        if isinstance(f, models.ForeignKey) and f.related_model is Incident:
            value = titles.get(value)
        elif isinstance(f, models.ForeignKey) and f.related_model is ChecklistRun:
            value = runs.get(value)
        elif isinstance(f, models.ForeignKey) and f.related_model is Escalation:
            value = value is not None
        elif f.name in ("object_pk", "object_id"):
            value = None
        elif f.name == "object_repr":
            value = re.sub(r"INC-\d+", "INC-#", value)
        elif f.name == "changes" and isinstance(value, dict):
            value = {
                k: "set" if k == "resolved_at" and v[1] != "None" else v
                for k, v in value.items()
                if k not in VARYING
            }
        if f.name == "at" and row.get("kind") in PROCESSED_AT:
            continue
        if f.name == "resolved_at" and value is not None:
            value = "set"
        values[f.name] = value
    return tuple(sorted((k, repr(v)) for k, v in values.items()))


def every_row() -> dict[str, list]:
    """Every row the processor writes, table by table, without what differs between runs."""
    titles = dict(Incident.objects.values_list("pk", "title"))
    runs = {
        pk: (titles[incident], template)
        for pk, incident, template in ChecklistRun.objects.values_list(
            "pk", "incident_id", "template_id"
        )
    }
    incident_entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Incident)
    )
    tables = {
        Incident: Incident.objects.all(),
        TimelineEvent: TimelineEvent.objects.all(),
        Escalation: Escalation.objects.all(),
        Notice: Notice.objects.filter(incident__isnull=False),
        ChecklistRun: ChecklistRun.objects.filter(incident__isnull=False),
        RunItem: RunItem.objects.filter(run__incident__isnull=False),
        Alert: Alert.objects.all(),
        AlertKey: AlertKey.objects.all(),
        AlertGroup: AlertGroup.objects.all(),
        LogEntry: incident_entries,
    }
    return {
        model.__name__: sorted(_stable(model, row, titles, runs) for row in rows.values())
        for model, rows in tables.items()
    }


def forget_everything() -> None:
    Incident.objects.all().delete()  # with their timeline, escalations, notices, runs, alerts
    LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Incident)).delete()


STORM = [
    alert("DiskFull", "d1"),
    alert("HighCPU", "c1", severity="critical"),
    alert("DiskFull", "d1"),  # a repeat of an alert that opened an incident in this batch
    alert("DiskFull", "d2"),  # a second alert joining it
    alert("Known", "k1"),  # the incident opened before the batch
    alert("Latency", "l1"),
    alert("HighCPU", "c1", status="resolved"),  # resolves what the batch opened just before
    alert("HighCPU", "c1", severity="critical"),  # and fires again: a new incident
    alert("Errors", "e1", severity="critical"),
    alert("Known", "k2"),  # a new alert of the incident open before
    alert("Known", "k1", status="resolved"),
    alert("Known", "k1"),  # firing again
    alert("Known", "k2"),
]


def test_the_batch_writes_the_same_rows_as_alerts_applied_one_at_a_time(alertmanager):
    waiting(alertmanager, [alert("Known", "k1")])
    assert apply_each() == 1
    waiting(alertmanager, STORM, start=1)
    assert apply_together() == len(STORM)
    together = every_row()
    forget_everything()

    waiting(alertmanager, [alert("Known", "k1")])
    assert apply_each() == 1
    waiting(alertmanager, STORM, start=1)
    assert apply_each() == len(STORM)
    each = every_row()

    assert len(together["Incident"]) == 6
    assert together["Notice"] and together["RunItem"] and together["LogEntry"]
    for table, rows in each.items():
        assert together[table] == rows, table


def test_alerts_of_one_new_key_in_a_batch_open_one_incident_in_their_order(alertmanager):
    waiting(alertmanager, [alert("DiskFull", f"d{n}") for n in range(5)])

    assert apply_together() == 5

    incident = Incident.objects.get()
    assert list(incident.alerts.order_by("pk").values_list("fingerprint", flat=True)) == [
        f"d{n}" for n in range(5)
    ]
    assert [e.data.get("fingerprint") for e in incident.timeline.filter(kind="alert")] == [
        f"d{n}" for n in range(1, 5)
    ]
    assert AlertKey.objects.get().incident == incident


@contextmanager
def statements():
    """Every statement sent to PostgreSQL, the bulk inserts (outside Django's log) included."""
    sent = []
    execute = psycopg.Cursor.execute

    def counted(self, query, *args, **kwargs):
        sent.append(query if isinstance(query, str) else query.decode())
        return execute(self, query, *args, **kwargs)

    psycopg.Cursor.execute = counted
    try:
        yield sent
    finally:
        psycopg.Cursor.execute = execute


def test_a_batch_costs_the_same_statements_however_many_alerts_and_new_incidents(alertmanager):
    need_service("PostgreSQL", connection.vendor == "postgresql")
    waiting(alertmanager, [alert(f"Open{n}") for n in range(50)])
    deliveries_process()  # open incidents to repeat, and what a process reads once (types)
    waiting(alertmanager, [alert(f"Small{n}") for n in range(10)])
    waiting(alertmanager, [alert(f"Open{n}") for n in range(10)])
    with statements() as small:
        assert deliveries_process() == 20
    waiting(alertmanager, [alert(f"Large{n}") for n in range(50)])
    waiting(alertmanager, [alert(f"Open{n}") for n in range(50)])
    with statements() as large:
        assert deliveries_process() == 100

    assert Incident.objects.count() == 110
    assert Alert.objects.filter(times_received=3).count() == 10
    assert len(large) == len(small)
    inserts = [re.match(r'INSERT INTO "?(\w+)', s).group(1) for s in large if "INSERT" in s[:6]]
    for table in [
        "incidents_incident",
        "auditlog_logentry",
        "incidents_timelineevent",
        "checklists_checklistrun",
        "checklists_runitem",
        "escalation_escalation",
        "escalation_notice",
        "incidents_alert",
        "incidents_alertkey",
    ]:
        assert inserts.count(table) == 1, (table, inserts)


def test_a_failing_delivery_in_a_batch_of_new_incidents_is_isolated(alertmanager):
    waiting(alertmanager, [alert(f"Before{n}") for n in range(5)])
    broken = AlertDelivery.objects.create(integration=alertmanager, body={"alerts": "?"})
    waiting(alertmanager, [alert(f"After{n}") for n in range(5)], start=10)

    assert deliveries_process() == 5  # the batch undone, then applied one at a time

    assert sorted(Incident.objects.values_list("title", flat=True)) == [
        f"Before{n}" for n in range(5)
    ]
    assert TimelineEvent.objects.filter(kind="declared").count() == 5  # nothing twice
    broken.refresh_from_db()
    assert broken.attempts == 1
    assert AlertDelivery.objects.count() == 6


@pytest.mark.django_db(transaction=True)
def test_a_key_opened_by_another_request_meanwhile_joins_its_incident(monkeypatch, declare):
    """The batch's insert of the keys meets the unique constraint; applied again one at a
    time, the alert joins the incident the other request opened."""
    need_service("PostgreSQL", connection.vendor == "postgresql")
    integration = integration_create(name="raced", kind="alertmanager", actor=SYSTEM)[0]
    waiting(integration, [alert("Raced", "r1"), alert("Other", "o1")])
    theirs = declare(title="opened by another request", severity="P2")
    declare_batch = batches.incidents_declare_batch

    def another_request_first(**kwargs):
        with psycopg.connect(running_database_url(), autocommit=True) as other:
            other.execute(
                "INSERT INTO incidents_alertkey (integration_id, key, incident_id) "
                "VALUES (%s, %s, %s)",
                [integration.pk, '{}:{alertname="Raced"}', theirs.pk],
            )
        return declare_batch(**kwargs)

    monkeypatch.setattr(batches, "incidents_declare_batch", another_request_first)

    assert deliveries_process() == 2

    assert AlertKey.objects.get(key='{}:{alertname="Raced"}').incident == theirs
    assert theirs.alerts.get().fingerprint == "r1"
    assert Incident.objects.filter(title="Other o1").count() == 1
    assert Incident.objects.count() == 2


def test_a_batch_of_a_grouping_integration_opens_one_incident_for_the_group(alertmanager):
    grouped = integration_update(
        integration=alertmanager,
        actor=SYSTEM,
        grouping="fingerprint",
        group_by=["alertname"],
        group_window=timedelta(minutes=15),
    )
    waiting(grouped, [alert("NodeDown", f"web-{n}") for n in range(5)])
    waiting(grouped, [alert("Other", "o1")], start=5)

    assert apply_together() == 6

    node_down = Incident.objects.get(alert_keys__key="web-0")
    assert AlertKey.objects.filter(incident=node_down).count() == 5
    assert node_down.alerts.count() == 5
    assert Incident.objects.count() == 2


def grouping(integration, window=timedelta(seconds=30)):
    return integration_update(
        integration=integration,
        actor=SYSTEM,
        grouping="fingerprint",
        group_by=["alertname"],
        group_window=window,
    )


GROUPED_STORM = [
    alert("NodeDown", "web-1"),  # joins the group opened before the batch
    alert("NodeDown", "web-2"),
    alert("DiskFull", "d1"),  # opens a group
    alert("DiskFull", "d2"),  # and joins it, in the same batch
    alert("NodeDown", "web-1"),  # a repeat
    alert("DiskFull", "d1", status="resolved"),
    alert("DiskFull", "d3"),
    # 30 s window: from here on the deliveries come more than 30 s after NodeDown's latest.
    *[alert("Filler", f"f{n}") for n in range(30)],
    alert("NodeDown", "web-3"),  # past the window: a new incident and group
    alert("NodeDown", "web-4"),  # joins that one
]


def test_a_grouping_integrations_batch_writes_the_same_rows_as_one_at_a_time(alertmanager):
    integration = grouping(alertmanager)
    waiting(integration, [alert("NodeDown", "web-0")])
    assert apply_each() == 1
    waiting(integration, GROUPED_STORM, start=1)
    assert apply_together() == len(GROUPED_STORM)
    together = every_row()
    forget_everything()

    waiting(integration, [alert("NodeDown", "web-0")])
    assert apply_each() == 1
    waiting(integration, GROUPED_STORM, start=1)
    assert apply_each() == len(GROUPED_STORM)
    each = every_row()

    node_down = Incident.objects.filter(alerts__fingerprint="web-0").get()
    assert set(node_down.alerts.values_list("fingerprint", flat=True)) == {
        "web-0",
        "web-1",
        "web-2",
    }
    assert Incident.objects.filter(alerts__fingerprint="web-3").get().alerts.count() == 2
    assert len(together["AlertGroup"]) == 3  # NodeDown (the later one), DiskFull, Filler
    for table, rows in each.items():
        assert together[table] == rows, table


def test_a_grouped_storm_costs_the_same_statements_for_ten_hosts_as_for_a_hundred(alertmanager):
    need_service("PostgreSQL", connection.vendor == "postgresql")
    integration = grouping(alertmanager, window=timedelta(hours=1))
    waiting(integration, [alert("Warm", "w0"), alert("NodeDown", "web-0")])
    deliveries_process()  # what a process reads once; a group open before the batch
    waiting(integration, [alert("NodeDown", f"web-{n}") for n in range(1, 6)], start=2)
    waiting(integration, [alert("DiskFull", f"d{n}") for n in range(5)], start=7)
    with statements() as small:
        assert deliveries_process() == 10
    waiting(integration, [alert("NodeDown", f"web-{n}") for n in range(6, 56)], start=12)
    waiting(integration, [alert("CPU", f"c{n}") for n in range(50)], start=62)
    with statements() as large:
        assert deliveries_process() == 100

    assert Incident.objects.count() == 4
    assert Incident.objects.get(alerts__fingerprint="web-0").alerts.count() == 56
    assert len(large) == len(small)
