"""メイン監視 /ops/monitoring: what burns, what escalates next, for staff only."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert
from checklists import services as checklist_services
from checklists.models import RECURRING_KINDS, ChecklistTemplate
from incidents.models import State
from integrations.services import integration_create
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def board(client, operator):
    client.force_login(operator)
    return client


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("ops-monitoring"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_a_user_without_staff_status_may_not_see_the_board(client, make_user):
    client.force_login(make_user("operations", is_staff=False))
    assert client.get(reverse("ops-monitoring")).status_code == 403


def test_active_incidents_come_most_serious_first_then_oldest(board, declare):
    now = timezone.now()
    older_p1 = declare(title="older P1", severity="P1", detected_at=now - timedelta(hours=2))
    newer_p1 = declare(title="newer P1", severity="P1", detected_at=now - timedelta(hours=1))
    p0 = declare(title="the P0", severity="P0")
    closed = IncidentFactory(title="long gone", state=State.CLOSED)

    body = board.get(reverse("ops-monitoring")).content.decode()

    positions = [body.index(f'id="row-{i.key}"') for i in (p0, older_p1, newer_p1)]
    assert positions == sorted(positions)
    assert f'id="row-{closed.key}"' not in body


def test_a_row_shows_level_holders_countdown_and_links_to_the_admin(board, declare):
    incident = declare(title="決済APIの応答遅延", severity="P1")

    response = board.get(reverse("ops-monitoring"))
    row = response.content.decode().split(f'id="row-{incident.key}"')[1].split("</tr>")[0]

    assert incident.get_admin_url() in row
    assert "L1" in row
    assert f'data-deadline="{incident.next_escalation_at.isoformat()}"' in row
    assert re.search(r">1[45]:\d\d</time>", row)  # P1: L2 in 15 minutes, as m:ss
    assert '<span class="badge"' in row and ">P1<" in row  # severity as text, not colour only


def test_counts_per_severity_and_state(board, declare):
    declare(severity="P0")
    declare(severity="P1")
    declare(severity="P1")

    counts = board.get(reverse("ops-monitoring")).context["counts"]

    assert dict((str(s), n) for s, n in counts["severity"]) == {"P0": 1, "P1": 2, "P2": 0, "P3": 0}
    assert dict((str(s), n) for s, n in counts["state"])["detected"] == 3
    assert counts["total"] == 3


def test_checklist_progress_and_alerts_firing_per_row(board, declare, sysadmin, make_user):
    incident = declare(severity="P1", category="system")
    runs = list(incident.checklist_runs.all())
    assert runs, "the runbook's incident-response checklist comes with every incident"
    checklist_services.run_item_tick(item=runs[0].items.first(), actor=sysadmin)
    integration, _ = integration_create(
        name="alertmanager", kind="alertmanager", actor=make_user("managers")
    )
    for fingerprint, status in (("a", "firing"), ("b", "firing"), ("c", "resolved")):
        Alert.objects.create(
            incident=incident,
            integration=integration,
            fingerprint=fingerprint,
            status=status,
            severity="P1",
            first_received_at=timezone.now(),
            last_received_at=timezone.now(),
        )

    rows = board.get(reverse("ops-monitoring")).context["rows"]
    row = next(r for r in rows if r["key"] == incident.key)

    assert row["items_done"] == 1
    assert row["items_total"] == sum(r.items.count() for r in runs)
    assert row["firing"] == 2


def test_those_who_may_acknowledge_see_the_button_executives_do_not(client, declare, make_user):
    incident = declare()
    url = reverse("ops-monitoring-acknowledge", args=[incident.key])

    client.force_login(make_user("operations"))
    assert url in client.get(reverse("ops-monitoring")).content.decode()

    client.force_login(make_user("executives"))
    page = client.get(reverse("ops-monitoring"))
    assert page.status_code == 200
    assert url not in page.content.decode()


def test_acknowledging_from_the_board_goes_through_the_service(board, declare, operator):
    incident = declare()

    response = board.post(reverse("ops-monitoring-acknowledge", args=[incident.key]))

    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.state == State.TRIAGE
    assert incident.timeline.filter(kind="acknowledge", actor=operator).exists()


def test_an_executive_cannot_acknowledge_by_posting_either(client, declare, make_user):
    incident = declare()
    client.force_login(make_user("executives"))

    client.post(reverse("ops-monitoring-acknowledge", args=[incident.key]))

    incident.refresh_from_db()
    assert incident.state == State.DETECTED


def test_acknowledge_through_htmx_answers_with_the_refreshed_section(board, declare):
    incident = declare()

    response = board.post(
        reverse("ops-monitoring-acknowledge", args=[incident.key]),
        HTTP_HX_REQUEST="true",
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="board"')
    assert f"{incident.key} acknowledged." in body


def test_the_refreshed_section_is_the_table_alone(board, declare):
    incident = declare()
    body = board.get(reverse("ops-monitoring-section")).content.decode()
    assert "<html" not in body
    assert f'id="row-{incident.key}"' in body


def test_the_board_reads_in_japanese_and_in_english(board, declare):
    declare()
    body = board.get(reverse("ops-monitoring"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "<title>メイン監視" in body
    assert "次のエスカレーション" in body and "受領" in body
    english = board.get(reverse("ops-monitoring"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<title>Live board" in english and "next escalation" in english


def test_todays_maintenance_runs_and_the_overdue_are_listed(board):
    for template in ChecklistTemplate.objects.filter(kind__in=RECURRING_KINDS, is_active=True):
        checklist_services.maintenance_run_create(template=template)
    overdue, _ = checklist_services.maintenance_run_create(
        template=ChecklistTemplate.objects.get(key="daily"),
        at=timezone.now() - timedelta(days=2),
    )

    runs = board.get(reverse("ops-monitoring")).context["runs"]

    assert {run.kind for run in runs} == {"daily", "weekly", "monthly"}
    assert overdue in runs and overdue.is_overdue()


def test_queries_per_board_do_not_grow_with_incidents(board, declare):
    declare()

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert board.get(reverse("ops-monitoring-section")).status_code == 200
        return len(queries)

    count()  # the session renewed once: only what grows with incidents is counted
    few = count()
    for n in range(15):
        declare(title=f"more {n}", severity="P2")
    assert count() == few
