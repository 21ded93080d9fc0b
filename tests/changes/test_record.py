"""The change record in docs/changes/: complete, deterministic, written atomically."""

import datetime as dt
import os
from pathlib import Path
from unittest import mock

import pytest
import time_machine

from changes import records, services
from changes.models import Change, Kind, Result
from checklists import services as checklist_services
from tests.factories import IncidentFactory

GOLDEN = Path(__file__).parent / "golden"
JST = dt.timezone(dt.timedelta(hours=9))
T0 = dt.datetime(2026, 11, 2, 10, 0, tzinfo=JST)
HEALTH = "$ npm run health:production\nGET /api/health 200 (43ms)\ndb: ok\n```cache```: ok"


@pytest.fixture
def finished_release(make_user, django_capture_on_commit_callbacks):
    """A fixed release: ticked by two people, its 事後確認 output pasted, an incident linked."""
    dev = make_user("developers", username="tanaka")
    ops = make_user("operations", username="suzuki")
    incident = IncidentFactory(title="決済APIのエラー率上昇", service="payments", severity="P1")
    with time_machine.travel(T0, tick=False):
        change = services.change_start(
            actor=dev,
            kind=Kind.RELEASE,
            title="Payments API v1.4.2 決済API",
            service="payments",
            version="a1b2c3d",
            who="tanaka",
            summary="接続プールの設定を変更",
            links=[{"href": "https://ci.example.jp/builds/42", "text": "build 42"}],
        )
    items = list(change.checklist_run.items.order_by("position", "pk"))
    for minutes, item in enumerate(items[:-1], start=1):
        with time_machine.travel(T0 + dt.timedelta(minutes=minutes), tick=False):
            checklist_services.run_item_tick(item=item, actor=dev)
    services.change_link_incidents(
        change=change, actor=ops, relation=services.Relation.CAUSED, add=[incident]
    )
    with (
        time_machine.travel(T0 + dt.timedelta(minutes=9), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        checklist_services.run_item_tick(item=items[-1], actor=ops, note=HEALTH)
    change = Change.objects.get(pk=change.pk)
    change.incident = incident
    return change


def normalise(text: str, change: Change) -> str:
    return text.replace(change.key, "CHG-X").replace(change.incident.key, "INC-X")


def test_completing_the_run_finishes_the_change_and_writes_its_record(finished_release):
    assert finished_release.result == Result.SUCCEEDED
    assert finished_release.finished_at == T0 + dt.timedelta(minutes=9)
    path = Path(finished_release.record_path)
    assert path.name == f"2026-11-02-release-{finished_release.key}-payments-api-v142-api.md"
    assert "GET /api/health 200 (43ms)" in path.read_text()


@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_record_matches_the_reviewed_golden_file(finished_release, language):
    text = normalise(
        records.record_render(change=finished_release, language=language), finished_release
    )
    golden = GOLDEN / f"release.{language}.md"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
        pytest.skip("golden file rewritten; review the diff")
    assert text == golden.read_text(encoding="utf-8")


def test_the_same_change_gives_the_same_bytes(finished_release):
    first = records.record_write(change=finished_release).read_bytes()
    with time_machine.travel(T0 + dt.timedelta(days=3)):
        second = records.record_write(change=finished_release).read_bytes()
    assert first == second


def test_a_failed_write_leaves_the_old_record_whole_and_no_temporary_file(finished_release):
    path = records.record_write(change=finished_release)
    before = path.read_bytes()
    Change.objects.filter(pk=finished_release.pk).update(title="Payments API v1.4.3")
    with (
        mock.patch("config.documents.os.replace", side_effect=OSError("disk full")),
        pytest.raises(OSError),
    ):
        records.record_write(change=Change.objects.get(pk=finished_release.pk))
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_the_record_follows_the_postmortem_language_setting(finished_release, settings):
    settings.POSTMORTEM_LANGUAGE = "en"
    assert records.record_render(change=finished_release).startswith("# Change record: ")
    settings.POSTMORTEM_LANGUAGE = "ja"
    assert records.record_render(change=finished_release).startswith("# 変更記録: ")
