"""An escalation level that targets a schedule pages whoever is on call on it when the
incident is declared, and the frozen plan records who that was; the dry run and
`check_escalation` read the same resolver."""

from __future__ import annotations

import io
from datetime import date, time, timedelta

from django.core.management import call_command
from django.utils import timezone, translation

from config.base import SYSTEM
from escalation.models import EscalationLevel, EscalationPolicy
from incidents import services
from notices.models import Channel, Notice
from oncall.models import Layer
from oncall.services import override_create

from .conftest import add_layer


def paging_policy(schedule) -> EscalationPolicy:
    policy = EscalationPolicy.objects.create(name="oncall-first")
    level = EscalationLevel.objects.create(policy=policy, number=1, name="当番", delay=timedelta(0))
    level.schedules.set([schedule])
    return policy


def test_a_level_targeting_a_schedule_notifies_the_person_on_call_and_the_plan_records_them(
    schedule, people
):
    sato, suzuki, _takahashi, tanaka = people
    add_layer(schedule, [sato, suzuki], shift_unit=Layer.Unit.DAYS, start_date=date(2026, 1, 1))
    now = timezone.now()
    override_create(
        schedule=schedule,
        user=tanaka,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        actor=SYSTEM,
    )
    policy = paging_policy(schedule)

    incident = services.incident_declare(
        actor=SYSTEM, title="決済APIの応答遅延", severity="P1", policy_name=policy.name
    )

    (level,) = incident.policy_snapshot["levels"]
    assert level["oncall"] == [
        {"schedule": schedule.name, "schedule_id": schedule.pk, "user": "tanaka", "name": "田中"}
    ]
    assert [r["address"] for r in level["recipients"]] == ["tanaka@x.test"]
    notice = Notice.objects.get(incident=incident, channel=Channel.EMAIL)
    assert notice.recipient == "tanaka@x.test"
    assert not Notice.objects.filter(recipient__in=["sato@x.test", "suzuki@x.test"]).exists()


def test_the_plan_stays_as_frozen_when_the_schedule_changes(schedule, people):
    sato, suzuki, *_ = people
    layer = add_layer(schedule, [sato], shift_unit=Layer.Unit.DAYS, start_date=date(2026, 1, 1))
    policy = paging_policy(schedule)
    incident = services.incident_declare(
        actor=SYSTEM, title="DB接続数の枯渇", severity="P2", policy_name=policy.name
    )
    layer.members.update(user=suzuki)

    incident.refresh_from_db()
    assert incident.policy_snapshot["levels"][0]["oncall"][0]["user"] == "sato"


def test_a_gap_reaches_nobody_and_is_called_out(schedule, people):
    add_layer(schedule, [people[0]], start_date=timezone.localdate() + timedelta(days=3))
    policy = paging_policy(schedule)
    assert policy.unreached_levels() == [1]

    out = io.StringIO()
    with translation.override("en"):
        call_command("check_escalation", stdout=out)
    assert f"oncall: Schedule {schedule.name}: nobody on call from" in out.getvalue()


def test_the_dry_run_names_who_is_on_call_at_the_moment_asked(api, make_user, schedule, people):
    sato, suzuki, *_ = people
    add_layer(
        schedule,
        [sato, suzuki],
        shift_unit=Layer.Unit.DAYS,
        start_date=date(2026, 3, 2),
        handoff_time=time(9),
    )
    policy = paging_policy(schedule)
    client = api.as_user(make_user("managers"))
    url = f"/api/v1/escalation-policies/{policy.pk}/simulate/?severity=P1&at="

    monday = client.get(url + "2026-03-02T10:00:00%2B09:00").json()
    tuesday = client.get(url + "2026-03-03T10:00:00%2B09:00").json()

    assert monday[0]["oncall"] == [{"schedule": schedule.name, "user": "sato", "name": "佐藤"}]
    assert monday[0]["recipients"] == ["sato@x.test"]
    assert tuesday[0]["oncall"][0]["user"] == "suzuki"
    assert client.get(url + "yesterday").status_code == 400


def test_a_policy_names_its_levels_schedules_through_the_api(api, make_user, schedule):
    client = api.as_user(make_user("managers"))
    body = {
        "name": "by-schedule",
        "levels": [{"number": 1, "name": "当番", "delay_seconds": 0, "schedules": [schedule.name]}],
    }
    created = client.post("/api/v1/escalation-policies/", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["levels"][0]["schedules"] == [schedule.name]

    body["name"], body["levels"][0]["schedules"] = "unknown", ["nope"]
    refused = client.post("/api/v1/escalation-policies/", body, format="json")
    assert refused.status_code == 400
    assert not EscalationPolicy.objects.filter(name="unknown").exists()
