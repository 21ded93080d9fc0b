"""Policies, levels and teams change through the escalation services, from the admin and the
API alike: checked, validated, audited level by level."""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import PermissionDenied

from escalation.models import EscalationLevel, EscalationPolicy, Team
from escalation.services import policies


def admin_form(policy: EscalationPolicy, **changes) -> dict:
    """The policy's change page as posted, its levels inline."""
    levels = list(policy.levels.order_by("number"))
    data = {
        "name": policy.name,
        "description": policy.description,
        "is_default": "on" if policy.is_default else "",
        "stop_on": policy.stop_on,
        "severities": "[]",
        "categories": "[]",
        "levels-TOTAL_FORMS": str(len(levels)),
        "levels-INITIAL_FORMS": str(len(levels)),
    }
    for n, level in enumerate(levels):
        seconds = int(level.delay.total_seconds())
        data |= {
            f"levels-{n}-id": str(level.pk),
            f"levels-{n}-policy": str(policy.pk),
            f"levels-{n}-number": str(level.number),
            f"levels-{n}-name": level.name,
            f"levels-{n}-delay": f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:00",
            f"levels-{n}-min_severity": level.min_severity,
            f"levels-{n}-emergency_contact": "on" if level.emergency_contact else "",
            f"levels-{n}-teams": [str(t.pk) for t in level.teams.all()],
            f"levels-{n}-emails": "[]",
        }
    return {k: v for k, v in (data | changes).items() if v != ""}


def test_a_level_edited_in_the_admin_is_that_level_changed_with_its_audit_entry(client, make_user):
    manager = make_user("managers")
    client.force_login(manager)
    policy = EscalationPolicy.objects.get(name="runbook")
    level_two = policy.levels.get(number=2)

    response = client.post(
        f"/admin/escalation/escalationpolicy/{policy.pk}/change/",
        admin_form(policy, **{"levels-1-delay": "00:20:00"}),
    )

    assert response.status_code == 302, response.content.decode()[-3000:]
    level_two.refresh_from_db()  # the same row, not a new one
    assert level_two.delay == timedelta(minutes=20)
    entry = LogEntry.objects.get_for_object(level_two).get(actor=manager)
    assert entry.action == LogEntry.Action.UPDATE
    assert entry.changes_dict["delay"] == ["0:15:00", "0:20:00"]
    assert policy.levels.count() == 4


def test_a_policy_added_in_the_admin_gets_its_levels_from_the_service(client, make_user):
    client.force_login(make_user("managers"))
    data = {
        "name": "night",
        "stop_on": "resolved",
        "severities": "[]",
        "categories": "[]",
        "levels-TOTAL_FORMS": "1",
        "levels-INITIAL_FORMS": "0",
        "levels-0-number": "1",
        "levels-0-name": "夜間",
        "levels-0-delay": "00:00:00",
        "levels-0-emails": '["night@x.test"]',
    }

    response = client.post("/admin/escalation/escalationpolicy/add/", data)

    assert response.status_code == 302, response.content.decode()[-3000:]
    policy = EscalationPolicy.objects.get(name="night")
    assert policy.levels.get().emails == ["night@x.test"]
    assert policy.unreached_levels() == []


def test_a_level_without_its_number_in_a_patch_is_refused_with_a_400(api, make_user):
    policy = EscalationPolicy.objects.get(name="runbook")

    response = api.as_user(make_user("managers")).patch(
        f"/api/v1/escalation-policies/{policy.pk}/",
        {"levels": [{"name": "L1"}]},
        format="json",
    )

    assert response.status_code == 400
    assert "levels" in response.json()["fields"]
    assert policy.levels.count() == 4


def test_responders_cannot_change_policies_or_teams_whatever_the_door(make_user):
    sysadmin = make_user("sysadmins")
    policy = EscalationPolicy.objects.get(name="runbook")
    team = Team.objects.get(name="operations")

    with pytest.raises(PermissionDenied):
        policies.policy_update(policy=policy, actor=sysadmin, description="x")
    with pytest.raises(PermissionDenied):
        policies.team_update(team=team, actor=sysadmin, email="me@x.test")

    assert EscalationPolicy.objects.get(pk=policy.pk).description != "x"
    assert Team.objects.get(pk=team.pk).email == team.email


def test_a_team_added_in_the_admin_has_its_members_and_an_audit_entry(client, make_user):
    manager = make_user("managers")
    member = make_user("operations")
    client.force_login(manager)

    response = client.post(
        "/admin/escalation/team/add/",
        {
            "name": "night-shift",
            "name_ja": "夜間班",
            "name_en": "Night shift",
            "email": "",
            "language": "ja",
            "members": [str(member.pk)],
        },
    )

    assert response.status_code == 302, response.content.decode()[-3000:]
    team = Team.objects.get(name="night-shift")
    assert list(team.members.all()) == [member]
    assert LogEntry.objects.get_for_object(team).filter(actor=manager).exists()


def test_a_level_left_out_of_a_put_is_removed_and_the_others_keep_their_rows(api, make_user):
    policy = EscalationPolicy.objects.get(name="runbook")
    first = policy.levels.get(number=1)

    response = api.as_user(make_user("managers")).patch(
        f"/api/v1/escalation-policies/{policy.pk}/",
        {"levels": [{"number": 1, "name": "運用チーム", "delay_seconds": 0}]},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert list(policy.levels.values_list("pk", flat=True)) == [first.pk]
    assert not EscalationLevel.objects.filter(policy=policy, number=2).exists()
