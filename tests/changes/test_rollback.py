"""A rollback records which change it reverts; its success is that change's end."""

from pathlib import Path

import pytest

from changes import services
from changes.models import Change, Kind, Result


def test_a_rollback_references_the_change_it_reverts(
    api, pipeline, start, operator, django_capture_on_commit_callbacks
):
    release = start(version="a1b2c3d")
    services.change_finish(change=release, actor=operator, result=Result.SUCCEEDED)
    client = api.as_user(pipeline)

    response = client.post(
        "/api/v1/changes/",
        {
            "kind": "rollback",
            "title": "v1.4.2 を戻す",
            "service": "payments",
            "reverts": release.key,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    rollback = response.json()
    assert rollback["reverts"] == release.key
    assert Change.objects.get(pk=release.pk).reverted_by.get().key == rollback["key"]

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/api/v1/changes/{rollback['key']}/finish/", {"result": "succeeded"}, format="json"
        )

    release = Change.objects.get(pk=release.pk)
    assert release.result == Result.ROLLED_BACK
    text = Path(release.record_path).read_text()
    assert f"| 取り消した変更 | {rollback['key']} v1.4.2 を戻す |" in text
    assert "| 結果 | ロールバック済み |" in text
    reverted = Path(Change.objects.get(pk=Change.pk_from_key(rollback["key"])).record_path)
    assert f"| 取り消す変更 | {release.key} 決済API v1.4.2 (a1b2c3d) |" in reverted.read_text()


def test_only_a_rollback_reverts(api, pipeline, start):
    release = start()
    response = api.as_user(pipeline).post(
        "/api/v1/changes/",
        {"kind": "release", "title": "again", "reverts": release.key},
        format="json",
    )
    assert response.status_code == 400
    assert Change.objects.count() == 1


def test_a_rollback_gets_the_rollback_checklist(start):
    rollback = start(kind=Kind.ROLLBACK, title="戻す")
    assert rollback.checklist_run.template.key == "rollback"


@pytest.mark.parametrize("result", [Result.FAILED, Result.ROLLED_BACK])
def test_a_rollback_that_did_not_succeed_leaves_the_reverted_change_as_it_was(
    start, operator, result
):
    release = start()
    services.change_finish(change=release, actor=operator, result=Result.SUCCEEDED)
    rollback = start(kind=Kind.ROLLBACK, title="戻す", reverts=release)
    services.change_finish(change=rollback, actor=operator, result=result)
    assert Change.objects.get(pk=release.pk).result == Result.SUCCEEDED
