"""`close` waits for every required checklist item to be done or skipped with a reason."""

from checklists import services as checklists
from checklists.models import RunItem
from incidents import services


def to_postmortem(declare, sysadmin, **fields):
    incident = declare(**fields)
    for action in ("acknowledge", "investigate", "recover", "resolve"):
        services.incident_transition(incident=incident, action=action, actor=sysadmin)
    return services.incident_update(
        incident=incident, actor=sysadmin, root_cause="ディスク枯渇", resolution="ログを削除"
    )


def test_close_answers_409_listing_each_open_required_item(api, declare, sysadmin):
    incident = to_postmortem(declare, sysadmin)

    response = api.as_user(sysadmin).post(f"/api/v1/incidents/{incident.key}/close/")

    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "missing_requirements"
    required = RunItem.objects.filter(run__incident=incident, required=True)
    assert len(body["missing"]) == required.count() == 5
    assert all(m.startswith("緊急対応フロー #") for m in body["missing"])
    assert any("ログ分析" in m for m in body["missing"])
    # Optional helpers (debug commands) never block.
    assert not any("外部API確認" in m for m in body["missing"])


def test_close_succeeds_once_required_items_are_done_or_skipped_with_a_reason(
    api, declare, sysadmin
):
    incident = to_postmortem(declare, sysadmin, category="security")
    required = list(RunItem.objects.filter(run__incident=incident, required=True))
    for item in required[:-1]:
        checklists.run_item_tick(item=item, actor=sysadmin)

    refused = api.as_user(sysadmin).post(f"/api/v1/incidents/{incident.key}/close/")
    checklists.run_item_skip(item=required[-1], actor=sysadmin, reason="該当なし")
    closed = api.as_user(sysadmin).post(f"/api/v1/incidents/{incident.key}/close/")

    assert refused.status_code == 409
    assert refused.json()["missing"] == [f"セキュリティインシデント対応 #5: {required[-1].text_ja}"]
    assert closed.status_code == 200
    assert closed.json()["state"] == "closed"


def test_the_missing_items_are_named_in_english_for_an_english_client(api, declare, sysadmin):
    incident = to_postmortem(declare, sysadmin)

    response = api.as_user(sysadmin).post(
        f"/api/v1/incidents/{incident.key}/close/", HTTP_ACCEPT_LANGUAGE="en"
    )

    assert "Incident response #11: Follow-up: write the report" in response.json()["missing"]
