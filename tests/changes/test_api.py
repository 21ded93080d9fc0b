"""`/api/v1/changes/`: a deploy pipeline records a change as it starts and finishes it."""

from pathlib import Path

import pytest
from auditlog.models import LogEntry

from changes.models import Change
from checklists.models import ChecklistRun


@pytest.fixture
def bot(api, pipeline):
    return api.as_user(pipeline)


@pytest.fixture
def finish(django_capture_on_commit_callbacks):
    def finish(client, key, body):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(f"/api/v1/changes/{key}/finish/", body, format="json")

    return finish


RELEASE = {
    "kind": "release",
    "title": "決済API v1.4.2",
    "service": "payments",
    "version": "a1b2c3d",
    "who": "tanaka",
    "links": [{"href": "https://ci.example.jp/builds/42", "text": "build 42"}],
}


def test_a_pipeline_starts_a_release_with_the_release_checklist(bot):
    response = bot.post("/api/v1/changes/", RELEASE, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == "release" and body["result"] == "" and body["finished_at"] is None
    assert body["recorded_by"] == "deploy-bot"
    run = ChecklistRun.objects.get(pk=body["checklist_run"])
    assert run.template.key == "production-release"
    assert run.incident is None and run.period_start is None
    assert [i.text_ja for i in run.items.order_by("position")][-1] == "事後確認"


def test_finishing_through_the_api_writes_the_record(bot, finish, settings):
    key = bot.post("/api/v1/changes/", RELEASE, format="json").json()["key"]

    response = finish(bot, key, {"result": "succeeded"})

    assert response.status_code == 200, response.json()
    assert response.json()["result"] == "succeeded"
    path = Path(settings.CHANGE_DIR) / response.json()["record_file"]
    assert path.name.endswith(f"-release-{key}-api-v142.md")
    assert f"# 変更記録: {key} 決済API v1.4.2" in path.read_text()


def test_finishing_twice_is_409(bot, finish):
    key = bot.post("/api/v1/changes/", RELEASE, format="json").json()["key"]
    finish(bot, key, {"result": "failed"})
    response = finish(bot, key, {"result": "succeeded"})
    assert response.status_code == 409
    assert Change.objects.get().result == "failed"


def test_a_change_reported_when_over_is_finished_at_once_without_a_checklist(bot):
    body = RELEASE | {"result": "succeeded", "finished_at": "2026-11-02T01:00:00Z"}
    body["started_at"] = "2026-11-02T00:50:00Z"
    response = bot.post("/api/v1/changes/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["finished_at"] == "2026-11-02T10:00:00+09:00"
    assert response.json()["checklist_run"] is None


def test_a_configuration_change_has_no_runbook_checklist(bot):
    response = bot.post("/api/v1/changes/", RELEASE | {"kind": "config"}, format="json")
    assert response.status_code == 201
    assert response.json()["checklist_run"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (RELEASE | {"kind": "deploy"}, "kind"),
        ({k: v for k, v in RELEASE.items() if k != "title"}, "title"),
        (RELEASE | {"title": 42}, "title"),
        (RELEASE | {"onwer": "x"}, "onwer"),
        (RELEASE | {"links": [{"text": "no href"}]}, "links"),
        (RELEASE | {"caused_incidents": ["INC-999999"]}, "caused_incidents"),
        (RELEASE | {"reverts": "CHG-999999"}, "reverts"),
        (RELEASE | {"finished_at": "2026-11-02T01:00:00Z"}, "result"),
        (RELEASE | {"started_at": "tomorrow"}, "started_at"),
        (
            RELEASE
            | {"result": "succeeded", "started_at": "2026-11-02T01:00:00Z"}
            | {"finished_at": "2026-11-02T00:00:00Z"},
            "__all__",
        ),
    ],
)
def test_bad_input_is_400_naming_the_field_and_nothing_is_written(bot, body, field):
    before = LogEntry.objects.count()
    response = bot.post("/api/v1/changes/", body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"] == "invalid"
    assert field in response.json()["fields"], response.json()
    assert not Change.objects.exists() and not ChecklistRun.objects.filter(incident=None).exists()
    assert LogEntry.objects.count() == before


def test_a_bad_finish_is_400_and_the_change_stays_open(bot, finish):
    key = bot.post("/api/v1/changes/", RELEASE, format="json").json()["key"]
    response = finish(bot, key, {"result": "maybe"})
    assert response.status_code == 400 and "result" in response.json()["fields"]
    assert Change.objects.get().finished_at is None


def test_an_unknown_change_is_404(bot, finish):
    assert finish(bot, "CHG-999999", {"result": "succeeded"}).status_code == 404
    assert bot.get("/api/v1/changes/nope/").status_code in (403, 404)


def test_executives_read_changes_but_may_not_record_them(api, make_user):
    api.as_user(make_user("executives"))
    response = api.post("/api/v1/changes/", RELEASE, format="json")
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"
    assert api.get("/api/v1/changes/").status_code == 200
    assert not Change.objects.exists()


def test_without_a_token_is_401(api):
    assert api.post("/api/v1/changes/", RELEASE, format="json").status_code == 401
    assert not Change.objects.exists()


def test_the_change_is_audited_as_the_pipeline(bot, pipeline):
    key = bot.post("/api/v1/changes/", RELEASE, format="json").json()["key"]
    change = Change.objects.get(pk=Change.pk_from_key(key))
    entry = LogEntry.objects.get_for_object(change).get()
    assert entry.actor == pipeline


def test_ticking_the_run_through_the_api_finishes_the_change_with_the_health_check_output(
    bot, api, operator, settings, django_capture_on_commit_callbacks
):
    change = bot.post("/api/v1/changes/", RELEASE, format="json").json()
    run = ChecklistRun.objects.get(pk=change["checklist_run"])
    items = list(run.items.order_by("position", "pk"))
    person = api.__class__().as_user(operator)
    for item in items[:-1]:
        url = f"/api/v1/checklists/items/{item.pk}/done/"
        assert person.post(url, {}, format="json").status_code == 200
    assert Change.objects.get().finished_at is None

    output = "GET /api/health 200\ndb: ok"
    url = f"/api/v1/checklists/items/{items[-1].pk}/done/"
    with django_capture_on_commit_callbacks(execute=True):
        person.post(url, {"note": output}, format="json")

    finished = Change.objects.get()
    assert finished.result == "succeeded"
    run.refresh_from_db()
    assert finished.finished_at == run.completed_at
    record = Path(finished.record_path).read_text()
    assert "  GET /api/health 200\n  db: ok\n" in record
