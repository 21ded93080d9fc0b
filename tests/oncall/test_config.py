"""Schedules in configuration as code: exported with their layers and members by username,
applied through `oncall.services`, drift made in the admin caught by `--check`; overrides stay
out of the file; escalation levels name their schedules."""

from __future__ import annotations

import io
from datetime import date, time, timedelta

import pytest
import yaml
from auditlog.models import LogEntry
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from config.base import SYSTEM
from escalation.models import EscalationPolicy
from oncall.models import Layer, Override, Schedule
from oncall.services import override_create

from .conftest import add_layer


def config(*args: str) -> str:
    out = io.StringIO()
    call_command("config", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def write(tmp_path, text: str) -> str:
    path = tmp_path / "hikeshi.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def rota(schedule, people):
    """Weekdays by week, nights at the weekend, a level paging whoever is on call, an override."""
    add_layer(schedule, people[:3], name="weekly")
    add_layer(
        schedule,
        [people[3], people[0]],
        name="weekend-nights",
        priority=2,
        shift_unit=Layer.Unit.DAYS,
        start_date=date(2026, 3, 7),
        handoff_time=time(18, 30),
        restrict_weekdays=[6, 5],
        restrict_from=time(18),
        restrict_until=time(9),
    )
    level = EscalationPolicy.objects.get(name="runbook").levels.get(number=1)
    level.schedules.set([schedule])
    now = timezone.now()
    override_create(
        schedule=schedule,
        user=people[3],
        starts_at=now,
        ends_at=now + timedelta(hours=4),
        actor=SYSTEM,
    )
    return schedule


def test_export_then_apply_on_an_empty_database_gives_the_same_bytes(rota, tmp_path):
    exported = config("export")
    data = yaml.safe_load(exported)
    assert list(data)[:3] == ["version", "teams", "schedules"]  # before the policies naming them
    (schedule,) = data["schedules"]
    assert [layer["name"] for layer in schedule["layers"]] == ["weekend-nights", "weekly"]
    assert schedule["layers"][0] | {"members": None} == {
        "name": "weekend-nights",
        "priority": 2,
        "shift_length": 1,
        "shift_unit": "days",
        "start_date": "2026-03-07",
        "handoff_time": "18:30",
        "restrict_weekdays": [5, 6],
        "restrict_from": "18:00",
        "restrict_until": "09:00",
        "members": None,
    }
    assert schedule["layers"][1]["members"] == ["sato", "suzuki", "takahashi"]  # in order
    assert data["escalation_policies"][0]["levels"][0]["schedules"] == ["ops-primary"]
    assert "override" not in exported  # operational data, not configuration

    EscalationPolicy.objects.all().delete()
    Schedule.objects.all().delete()
    out = config("apply", write(tmp_path, exported))

    assert out.index("+ schedules ops-primary") < out.index("+ escalation_policies runbook")
    assert config("export") == exported
    assert not Override.objects.exists()
    level = EscalationPolicy.objects.get(name="runbook").levels.get(number=1)
    assert list(level.schedules.values_list("name", flat=True)) == ["ops-primary"]


def test_a_second_apply_changes_nothing_and_writes_no_audit_entry(rota, tmp_path):
    text = config("export").replace("handoff_time: '18:30'", "handoff_time: '19:00'")
    path = write(tmp_path, text)
    out = config("apply", path)
    assert "~ schedules ops-primary\n" in out
    assert 'layers[0].handoff_time: "18:30" → "19:00"' in out
    assert Layer.objects.get(name="weekend-nights").handoff_time == time(19)
    assert Override.objects.filter(schedule=rota).count() == 1  # left as they are
    entries = LogEntry.objects.count()
    assert config("apply", path) == ""
    assert LogEntry.objects.count() == entries


def test_check_catches_a_layer_edit_made_in_the_admin(client, make_user, rota, tmp_path):
    path = write(tmp_path, config("export"))
    layer = Layer.objects.get(name="weekly")
    client.force_login(make_user("managers"))
    form = {
        "schedule": rota.pk,
        "name": "weekly",
        "priority": 1,
        "shift_length": 2,  # was 1
        "shift_unit": "weeks",
        "start_date": "2026-03-02",
        "handoff_time": "09:00:00",
        "restrict_weekdays": "[]",
        "restrict_from": "",
        "restrict_until": "",
        "members-TOTAL_FORMS": "0",
        "members-INITIAL_FORMS": "0",
    }
    for n, member in enumerate(layer.members.order_by("position")):
        form |= {
            f"members-{n}-id": member.pk,
            f"members-{n}-layer": layer.pk,
            f"members-{n}-position": member.position,
            f"members-{n}-user": member.user_id,
        }
    form["members-TOTAL_FORMS"] = form["members-INITIAL_FORMS"] = str(layer.members.count())
    response = client.post(f"/admin/oncall/layer/{layer.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]

    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("config", "apply", "--check", path, stdout=out)
    assert caught.value.returncode == 1
    assert out.getvalue() == "~ schedules ops-primary\n    layers[1].shift_length: 2 → 1\n"
    assert Layer.objects.get(pk=layer.pk).shift_length == 2  # nothing written


def test_prune_removes_schedules_the_file_does_not_name(rota, tmp_path):
    data = yaml.safe_load(config("export"))
    data["schedules"] = []
    for level in data["escalation_policies"][0]["levels"]:
        level["schedules"] = []
    path = write(tmp_path, yaml.safe_dump(data, allow_unicode=True))
    assert "= schedules ops-primary (not in the file: left alone)" in config("apply", path)
    assert Schedule.objects.exists()
    assert "- schedules ops-primary" in config("apply", "--prune", path)
    assert not Schedule.objects.exists()


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (
            lambda d: d["schedules"][0]["layers"][1]["members"].append("nobody"),
            "schedules[0].layers[1].members[3]",
        ),
        (
            lambda d: d["escalation_policies"][0]["levels"][0]["schedules"].append("nights"),
            "escalation_policies[0].levels[0].schedules[1]",
        ),
        (
            lambda d: d["schedules"][0].update(time_zone="Mars/Olympus"),
            "schedules[0].time_zone",
        ),
    ],
)
def test_a_bad_reference_is_refused_with_its_path_and_nothing_written(rota, tmp_path, edit, path):
    data = yaml.safe_load(config("export"))
    edit(data)
    before = config("export")
    with pytest.raises(CommandError) as caught:
        config("apply", write(tmp_path, yaml.safe_dump(data, allow_unicode=True)))
    assert caught.value.returncode == 2
    assert f"{path}: " in str(caught.value)
    assert config("export") == before
