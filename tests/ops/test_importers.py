"""`manage.py import opsgenie|grafana-oncall DIR`: a team's set-up, read from the JSON the
tool's API returns (fixtures in its documented shapes), answers who is on call as that tool
would, and reports what it could not map."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from escalation.models import EscalationPolicy, StopOn, Team
from integrations.models import Integration
from oncall.models import Layer, Override, Schedule
from oncall.resolver import oncall_at
from tests.oncall.conftest import at

LONDON = ZoneInfo("Europe/London")
OPSGENIE = Path(__file__).parent / "fixtures" / "opsgenie"
GRAFANA = Path(__file__).parent / "fixtures" / "grafana_oncall"
SOURCES = [("opsgenie", OPSGENIE), ("grafana-oncall", GRAFANA)]

pytestmark = pytest.mark.django_db


def run_import(folder: Path = OPSGENIE, *args: str, source: str = "opsgenie") -> str:
    out = io.StringIO()
    call_command("import", source, str(folder), *args, stdout=out)
    return out.getvalue()


def on_call(schedule: str, when) -> str:
    found = oncall_at(Schedule.objects.get(name=schedule), when)
    if found.user_id is None:
        return "nobody"
    return get_user_model().objects.get(pk=found.user_id).email


def counts() -> dict:
    return {
        model.__name__: model.objects.count()
        for model in (get_user_model(), Team, Schedule, Layer, Override, EscalationPolicy)
    }


def test_the_imported_schedule_answers_who_is_on_call_as_opsgenie_would():
    run_import()
    # Office hours: weekly from Monday 30 November 09:00 JST, Suzuki then Sato, Mon–Fri 09–18.
    assert on_call("ops-primary", at("2026-11-30 10:00")) == "suzuki@example.jp"
    assert on_call("ops-primary", at("2026-12-07 10:00")) == "sato@example.jp"
    # Nights, 18:00–09:00, Tanaka; Saturday noon is nobody's (a gap, as in Opsgenie).
    assert on_call("ops-primary", at("2026-12-01 20:00")) == "tanaka@example.jp"
    assert on_call("ops-primary", at("2026-12-02 08:59")) == "tanaka@example.jp"
    assert on_call("ops-primary", at("2026-12-05 12:00")) == "nobody"
    # The override: Tanaka takes Thursday 10:00–12:00 JST from Suzuki.
    assert on_call("ops-primary", at("2026-12-03 11:00")) == "tanaka@example.jp"
    assert on_call("ops-primary", at("2026-12-03 12:00")) == "suzuki@example.jp"
    # Twelve-hour shifts in London from 09:00: Sato, then Yamada (not a user of the dump).
    assert on_call("database", at("2026-11-30 20:59", LONDON)) == "sato@example.jp"
    assert on_call("database", at("2026-11-30 21:00", LONDON)) == "yamada@example.jp"


def test_teams_escalations_and_integrations_come_across():
    output = run_import()
    team = Team.objects.get(name="ops-team")
    assert sorted(team.members.values_list("email", flat=True)) == [
        "sato@example.jp",
        "suzuki@example.jp",
    ]
    policy = EscalationPolicy.objects.get(name="ops escalation")
    assert policy.stop_on == StopOn.ACKNOWLEDGED
    levels = list(policy.levels.order_by("number"))
    assert [int(level.delay.total_seconds() // 60) for level in levels] == [0, 15, 60]
    assert [s.name for s in levels[0].schedules.all()] == ["ops-primary"]
    assert [t.name for t in levels[1].teams.all()] == ["ops-team"]
    assert [u.email for u in levels[2].users.all()] == ["suzuki@example.jp"]
    prometheus = Integration.objects.get(name="Prometheus production")
    assert prometheus.kind == Integration.Kind.ALERTMANAGER
    assert "secret (shown once)" in output
    assert prometheus.secret_hint in output  # shown once; only its hash is kept
    assert not Integration.objects.filter(name="Support mailbox").exists()


def test_what_cannot_be_mapped_is_reported_and_left_out():
    output = run_import()
    unmapped = [line for line in output.splitlines() if line.startswith("unmapped")]
    expected = [
        "database / working week: a restriction spanning several days (monday–friday)",
        "database / working week: participant of type 'none'",
        "database / working week: not imported",
        "ops escalation: recipient of type 'escalation'",
        "ops escalation: repeating the escalation",
        "integration Support mailbox: type 'Email'",
        "ops-primary: Opsgenie pages every rotation's person at once",
    ]
    for text in expected:
        assert any(text in line for line in unmapped), text
    assert list(Schedule.objects.get(name="database").layers.values_list("name", flat=True)) == [
        "backstop"
    ]
    created = get_user_model().objects.get(email="yamada@example.jp")
    assert not created.has_usable_password()
    assert not created.groups.exists()


@pytest.mark.parametrize("source, folder", SOURCES)
def test_a_second_import_creates_nothing(source, folder):
    run_import(folder, source=source)
    before = counts() | {"integrations": Integration.objects.count()}
    output = run_import(folder, source=source)
    assert counts() | {"integrations": Integration.objects.count()} == before
    assert not [line for line in output.splitlines() if line.startswith("created")]
    assert "exists    schedule primary" in output or "exists    schedule ops-primary" in output


@pytest.mark.parametrize("source, folder", SOURCES)
def test_a_dry_run_reports_and_writes_nothing(source, folder):
    before = counts()
    output = run_import(folder, "--dry-run", source=source)
    assert "created   schedule" in output
    assert output.rstrip().endswith("dry run: nothing was written")
    assert "secret (made on a real import)" in output
    assert counts() == before


def test_grafana_oncall_shifts_answer_who_is_on_call_as_grafana_oncall_would():
    run_import(GRAFANA, source="grafana-oncall")
    # Office hours: weekly rolling users Alex then Ben, Mon–Fri 09:00 for 9 h (JST).
    assert on_call("primary", at("2026-11-30 10:00")) == "alex@example.jp"
    assert on_call("primary", at("2026-12-07 17:59")) == "ben@example.jp"
    # Nights: a daily 15 h shift from 09:00 UTC (18:00 JST), Chie; weekend days are a gap.
    assert on_call("primary", at("2026-12-01 20:00")) == "chie@example.jp"
    assert on_call("primary", at("2026-12-02 08:59")) == "chie@example.jp"
    assert on_call("primary", at("2026-12-05 12:00")) == "nobody"
    # The override shift: Chie takes Thursday 10:00–12:00 JST.
    assert on_call("primary", at("2026-12-03 11:00")) == "chie@example.jp"
    assert on_call("primary", at("2026-12-03 12:00")) == "alex@example.jp"


def test_grafana_oncall_chains_teams_and_integrations_come_across():
    output = run_import(GRAFANA, source="grafana-oncall")
    team = Team.objects.get(name="sre")
    assert sorted(team.members.values_list("email", flat=True)) == [
        "alex@example.jp",
        "ben@example.jp",
    ]
    levels = list(EscalationPolicy.objects.get(name="sre chain").levels.order_by("number"))
    assert [int(level.delay.total_seconds() // 60) for level in levels] == [0, 15, 60]
    assert [s.name for s in levels[0].schedules.all()] == ["primary"]
    assert [t.name for t in levels[1].teams.all()] == ["sre"]
    assert [u.email for u in levels[2].users.all()] == ["alex@example.jp"]
    assert Integration.objects.get(name="Grafana Alerting").kind == Integration.Kind.GRAFANA
    unmapped = [line for line in output.splitlines() if line.startswith("unmapped")]
    for text in [
        "schedule legacy: an iCal schedule (not imported)",
        "schedule primary / month end: a recurrent_event shift repeating 'monthly'",
        "escalation chain sre chain: step 'trigger_webhook'",
        "integration Zabbix: type 'zabbix'",
    ]:
        assert any(text in line for line in unmapped), text
    assert not Schedule.objects.filter(name="legacy").exists()


@pytest.mark.hostile
@pytest.mark.parametrize(
    "spoil, named",
    [
        (lambda folder: (folder / "schedules.json").unlink(), "schedules.json: missing"),
        (lambda folder: (folder / "users.json").write_text("{not json"), "users.json: not JSON"),
        (
            lambda folder: (folder / "escalations.json").write_text(json.dumps({"data": 3})),
            "escalations.json: expected",
        ),
        (
            lambda folder: (folder / "teams.json").write_text(json.dumps({"data": [{"id": "t"}]})),
            "not in the shape Opsgenie's API returns",
        ),
    ],
)
def test_a_bad_dump_exits_2_naming_the_file_and_writes_nothing(tmp_path, spoil, named):
    folder = tmp_path / "dump"
    shutil.copytree(OPSGENIE, folder)
    spoil(folder)
    before = counts()
    with pytest.raises(CommandError) as refused:
        run_import(folder)
    assert refused.value.returncode == 2
    assert named in str(refused.value)
    assert counts() == before
