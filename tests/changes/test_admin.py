"""Changes in the admin: recorded, finished and linked through the services, audited."""

from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.utils import timezone

from changes.models import Change, Origin, Result
from tests.factories import IncidentFactory

ADD = "/admin/changes/change/add/"


def form(change=None, **extra):
    started = (change.started_at if change else timezone.now()).astimezone()
    values = {
        "kind": "migration",
        "title": "注文テーブルに列を追加",
        "service": "orders",
        "version": "0042_order_note",
        "who": "sato",
        "summary": "",
        "started_at_0": started.strftime("%Y-%m-%d"),
        "started_at_1": started.strftime("%H:%M:%S"),
        "reverts": "",
        "links": "[]",
        "caused_incidents": "",
        "fixed_incidents": "",
    }
    if change is not None:
        values |= {"finished_at_0": "", "finished_at_1": "", "result": ""}
        values |= {name: getattr(change, name) for name in ("title", "service", "version", "who")}
    return values | extra


@pytest.fixture
def web(client, make_user):
    user = make_user("operations", username="sato")
    client.force_login(user)
    client.user = user
    return client


def test_a_change_recorded_in_the_admin_gets_its_runbook_checklist(web):
    response = web.post(ADD, form())
    assert response.status_code == 302, response.content.decode()[:2000]
    change = Change.objects.get()
    assert (change.origin, change.recorded_by) == (Origin.ADMIN, web.user)
    assert change.checklist_run.template.key == "migration"
    assert LogEntry.objects.get_for_object(change).get().actor == web.user


def test_finishing_in_the_admin_writes_the_record(web, django_capture_on_commit_callbacks):
    web.post(ADD, form())
    change = Change.objects.get()
    url = f"/admin/changes/change/{change.pk}/change/"
    with django_capture_on_commit_callbacks(execute=True):
        response = web.post(url, form(change, result=Result.FAILED))
    assert response.status_code == 302, response.content.decode()[:2000]
    change = Change.objects.get()
    assert change.result == Result.FAILED and change.finished_at is not None
    assert "| 結果 | 失敗 |" in Path(change.record_path).read_text()


def test_linking_an_incident_in_the_admin(web):
    incident = IncidentFactory(service="orders")
    web.post(ADD, form(caused_incidents=str(incident.pk)))
    change = Change.objects.get()
    assert list(incident.caused_by.all()) == [change]
    url = f"/admin/changes/change/{change.pk}/change/"
    web.post(url, form(change, caused_incidents="", fixed_incidents=str(incident.pk)))
    assert not incident.caused_by.exists()
    assert list(incident.fixed_by.all()) == [change]


def test_only_a_rollback_may_revert_in_the_admin_too(web):
    web.post(ADD, form())
    first = Change.objects.get()
    response = web.post(ADD, form(reverts=str(first.pk)))
    assert response.status_code == 200  # the form again, with the error
    assert Change.objects.count() == 1


def test_executives_may_not_record_a_change_in_the_admin(client, make_user):
    client.force_login(make_user("executives"))
    assert client.post(ADD, form()).status_code == 403
    assert not Change.objects.exists()


def test_changes_are_never_deleted(web):
    web.post(ADD, form())
    change = Change.objects.get()
    assert (
        web.post(f"/admin/changes/change/{change.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert Change.objects.exists()
