"""Ticking, unticking and skipping items through the API: services, timeline, roles, 409."""

import pytest

from checklists.models import RunItem
from incidents import services
from incidents.models import TimelineEvent


def first_item(incident):
    return RunItem.objects.filter(run__incident=incident).order_by("run_id", "position").first()


def url(item, action):
    return f"/api/v1/checklists/items/{item.pk}/{action}/"


def test_done_then_undo_records_who_and_when_on_the_timeline(api, declare, operator):
    incident = declare()
    item = first_item(incident)

    done = api.as_user(operator).post(url(item, "done"), {"note": "Grafana確認"}, format="json")
    undone = api.as_user(operator).post(url(item, "undo"))

    assert done.status_code == 200
    assert done.json()["status"] == "done"
    assert done.json()["by"] == operator.username
    assert done.json()["note"] == "Grafana確認"
    assert undone.json()["status"] == "open"
    events = TimelineEvent.objects.filter(incident=incident, data__checklist_item=item.pk)
    assert [(e.kind, e.data["event"], e.actor) for e in events] == [
        ("checklist_done", "done", operator),
        ("checklist_undone", "undo", operator),
    ]


def test_skip_needs_a_reason(api, declare, operator):
    item = first_item(declare())

    missing = api.as_user(operator).post(url(item, "skip"), {}, format="json")
    blank = api.as_user(operator).post(url(item, "skip"), {"reason": "  "}, format="json")
    skipped = api.as_user(operator).post(url(item, "skip"), {"reason": "誤検知"}, format="json")

    assert missing.status_code == blank.status_code == 400
    assert "reason" in missing.json()["fields"] and "reason" in blank.json()["fields"]
    assert skipped.status_code == 200
    assert skipped.json()["status"] == "skipped"
    assert skipped.json()["skip_reason"] == "誤検知"


@pytest.mark.parametrize(
    ("role", "status"),
    [("operations", 200), ("developers", 200), ("sysadmins", 200), ("executives", 403)],
)
def test_ticking_is_for_responders_only(api, declare, make_user, role, status):
    item = first_item(declare())

    response = api.as_user(make_user(role)).post(url(item, "done"))

    assert response.status_code == status
    item.refresh_from_db()
    assert (item.status == "done") is (status == 200)


def test_items_of_a_closed_incident_answer_409(api, declare, sysadmin):
    from tests.checklists.factories import resolve_all_items

    incident = declare()
    resolve_all_items(incident, sysadmin)
    for action in ("acknowledge", "investigate", "recover", "resolve"):
        services.incident_transition(incident=incident, action=action, actor=sysadmin)
    services.incident_update(incident=incident, actor=sysadmin, root_cause="r", resolution="r")
    services.incident_transition(incident=incident, action="close", actor=sysadmin)

    response = api.as_user(sysadmin).post(url(first_item(incident), "undo"))

    assert response.status_code == 409
    assert first_item(incident).status == "done"


def test_the_incident_lists_its_checklists_with_progress(api, declare, operator):
    incident = declare(category="security")
    api.as_user(operator).post(url(first_item(incident), "done"))

    response = api.as_user(operator).get(f"/api/v1/incidents/{incident.key}/checklists/")

    assert response.status_code == 200
    runs = response.json()
    assert [r["template"] for r in runs] == ["incident-response", "security-incident"]
    assert (runs[0]["done"], runs[0]["total"]) == (1, 11)
    assert runs[0]["items"][0]["status"] == "done"
    assert runs[1]["items"][0]["text_en"] == "Detection: monitoring system or manual report"


def test_an_unknown_incident_answers_404(api, operator):
    assert api.as_user(operator).get("/api/v1/incidents/INC-999999/checklists/").status_code == 404
