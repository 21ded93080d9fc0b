"""An integration that groups by labels opens one incident for a storm: alerts sharing the
values of its group-by labels join the incident their group opened, while it is active and
they keep coming within the group window."""

import threading
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.db import connection, connections, transaction
from django.utils import timezone

from alerts.events import AlertEvent
from alerts.models import Alert, AlertGroup
from alerts.services import alerts_ingest
from config.base import SYSTEM
from incidents.models import Action, Incident, TimelineEvent
from incidents.services import incident_transition
from integrations.services import integration_update
from tests.conftest import need_service
from tests.helpers import at_once, wait_for
from tests.integrations.conftest import payload


@pytest.fixture
def grouped(alertmanager):
    """Alertmanager's alerts one incident per fingerprint, grouped by alertname + cluster."""
    return integration_update(
        integration=alertmanager,
        actor=SYSTEM,
        grouping="fingerprint",
        group_by=["alertname", "cluster"],
        group_window=timedelta(minutes=15),
    )


def storm(hosts: int, *, alertname="NodeDown", cluster="tokyo-1", status="firing") -> dict:
    body = payload("alertmanager_firing")
    template = body["alerts"][0]
    body["alerts"] = [
        {
            **template,
            "status": status,
            "labels": {
                "alertname": alertname,
                "cluster": cluster,
                "instance": f"web-{n}:9100",
                "severity": "critical",
            },
            "fingerprint": f"{alertname}-{cluster}-{n:04d}",
        }
        for n in range(hosts)
    ]
    body["status"] = status
    return body


def event(n: int, *, at, cluster="tokyo-1", alertname="NodeDown") -> AlertEvent:
    return AlertEvent(
        key=f"{alertname}-{cluster}-{n}",
        fingerprint=f"{alertname}-{cluster}-{n}",
        firing=True,
        title=f"{alertname} web-{n}",
        severity="P1",
        labels={"alertname": alertname, "cluster": cluster, "instance": f"web-{n}"},
        received_at=at,
    )


def test_five_hundred_hosts_failing_at_once_open_one_incident_with_five_hundred_alerts(
    grouped, post_alertmanager
):
    assert post_alertmanager(storm(500)).status_code == 200

    incident = Incident.objects.get()
    assert incident.alerts.count() == 500
    assert incident.alerts.order_by("pk").first().fingerprint == "NodeDown-tokyo-1-0000"
    # Each host that joined is on the timeline, after the declaration.
    assert incident.timeline.filter(kind=TimelineEvent.Kind.ALERT).count() == 499


def test_another_cluster_or_another_alert_is_another_group(grouped, post_alertmanager):
    post_alertmanager(storm(3))
    post_alertmanager(storm(3, cluster="osaka-1"))
    post_alertmanager(storm(3, alertname="DiskFull"))

    assert Incident.objects.count() == 3
    assert all(incident.alerts.count() == 3 for incident in Incident.objects.all())


def test_without_group_by_labels_every_fingerprint_opens_its_own_incident(
    alertmanager, post_alertmanager
):
    integration_update(integration=alertmanager, actor=SYSTEM, grouping="fingerprint")

    post_alertmanager(storm(5))

    assert Incident.objects.count() == 5


def test_the_window_slides_with_the_groups_latest_alert(grouped):
    start = timezone.now() - timedelta(hours=1)

    def ingest(n, minutes):
        (incident,) = alerts_ingest(
            integration=grouped, events=[event(n, at=start + timedelta(minutes=minutes))]
        )
        return incident

    first = ingest(1, 0)
    assert ingest(2, 14) == first  # within 15 minutes of the first
    assert ingest(3, 28) == first  # within 15 minutes of the second
    later = ingest(4, 44)  # 16 minutes after the latest: a new incident, a new group
    assert later != first
    assert ingest(5, 50) == later
    assert AlertGroup.objects.get().incident == later


def test_an_incident_that_stopped_being_active_takes_no_more_alerts(grouped, post_alertmanager):
    post_alertmanager(storm(2))
    first = Incident.objects.get()
    incident_transition(incident=first, action=Action.RESOLVE, actor=SYSTEM)
    assert not AlertGroup.objects.exists()

    body = storm(4)
    body["alerts"] = body["alerts"][2:]  # two hosts more, still failing
    post_alertmanager(body)

    second = Incident.objects.exclude(pk=first.pk).get()
    assert second.alerts.count() == 2
    assert first.alerts.count() == 2


def test_the_incident_resolves_when_every_grouped_alert_has(grouped, post_alertmanager):
    post_alertmanager(storm(20))
    incident = Incident.objects.get()

    post_alertmanager(storm(19, status="resolved"))
    incident.refresh_from_db()
    assert incident.is_active  # one host still down

    body = storm(20, status="resolved")
    body["alerts"] = body["alerts"][19:]
    post_alertmanager(body)
    incident.refresh_from_db()
    assert not incident.is_active
    assert not Alert.objects.filter(status=Alert.Status.FIRING).exists()


@pytest.mark.django_db(transaction=True)
def test_two_processors_opening_the_same_group_at_once_open_one_incident(alertmanager):
    """Both find no group and declare an incident; the second's group insert then waits on
    the first's, fails on its commit, and joins the first's incident instead of its own."""
    need_service("PostgreSQL", connection.vendor == "postgresql")
    integration = integration_update(
        integration=alertmanager,
        actor=SYSTEM,
        grouping="fingerprint",
        group_by=["alertname", "cluster"],
    )
    table = AlertGroup._meta.db_table
    locked, released = threading.Event(), threading.Event()

    def hold_inserts():
        # Reads go on under a SHARE lock; inserts wait: both racers get past "no group yet".
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")  # noqa: S608
                locked.set()
                assert released.wait(timeout=120)
        finally:
            connections.close_all()

    def inserts_waiting() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
                [table],
            )
            return cursor.fetchone()[0]

    holder = threading.Thread(target=hold_inserts)
    holder.start()
    assert locked.wait(timeout=60)
    now = timezone.now()

    def racer(n):
        def run():
            return alerts_ingest(integration=integration, events=[event(n, at=now)])

        return run

    results = []
    racing = threading.Thread(target=lambda: results.extend(at_once(racer(1), racer(2))))
    racing.start()
    wait_for(lambda: inserts_waiting() == 2, timeout=120)
    released.set()
    racing.join(timeout=120)
    holder.join(timeout=120)

    (first,), (second,) = results
    assert first == second
    assert Incident.objects.count() == 1
    assert Incident.objects.get().alerts.count() == 2
    assert AlertGroup.objects.count() == 1


def test_a_manager_sets_the_grouping_rule_through_the_api_and_it_is_audited(
    api, make_user, alertmanager
):
    manager = make_user("managers")
    client = api.as_user(manager)

    response = client.patch(
        f"/api/v1/integrations/{alertmanager.pk}/",
        {"group_by": ["alertname", "cluster"], "group_window": "00:05:00"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["group_by"] == ["alertname", "cluster"]
    alertmanager.refresh_from_db()
    assert alertmanager.group_window == timedelta(minutes=5)
    entry = LogEntry.objects.get_for_object(alertmanager).filter(actor=manager).get()
    assert "group_by" in entry.changes


@pytest.mark.parametrize(
    "change",
    [
        {"group_by": ["alert name"]},
        {"group_by": ["alertname", "alertname"]},
        {"group_by": "alertname"},
        {"group_window": "00:00:00"},
        {"group_window": "2 00:00:00"},
    ],
)
def test_a_grouping_rule_that_cannot_work_is_400_and_changes_nothing(
    api, make_user, alertmanager, change
):
    client = api.as_user(make_user("managers"))

    response = client.patch(f"/api/v1/integrations/{alertmanager.pk}/", change, format="json")

    assert response.status_code == 400
    assert set(change) <= set(response.json()["fields"])
    alertmanager.refresh_from_db()
    assert alertmanager.group_by == []
    assert alertmanager.group_window == timedelta(minutes=15)


def test_the_admin_lists_each_integrations_grouping_rule(client, make_user, grouped):
    client.force_login(make_user("managers"))

    page = client.get("/admin/integrations/integration/", HTTP_ACCEPT_LANGUAGE="en").content

    assert b"alertname + cluster within 15 minutes of the group&#x27;s latest alert" in page
