"""A level that would notify nobody is called out before an incident finds it out."""

import io

import pytest
from django.core.management import CommandError, call_command

from escalation.models import EscalationPolicy, Team


@pytest.fixture
def runbook():
    return EscalationPolicy.objects.get(name="runbook")


def test_the_runbook_defaults_name_the_levels_whose_teams_have_no_address_or_member(
    runbook, make_user
):
    # Operations and executives have no address in the runbook (緊急連絡先 lists two).
    assert runbook.unreached_levels() == [1, 4]

    Team.objects.get(name="operations").members.add(make_user(email="on-call@x.test"))
    Team.objects.filter(name="executives").update(email="board@x.test")

    assert runbook.unreached_levels() == []


def test_a_member_without_an_address_reaches_nobody(runbook, make_user):
    Team.objects.get(name="operations").members.add(make_user(email=""))
    assert 1 in runbook.unreached_levels()


def test_the_api_shows_them_on_the_policy(api, make_user, runbook):
    response = api.as_user(make_user("managers")).get(f"/api/v1/escalation-policies/{runbook.pk}/")
    assert response.json()["unreached_levels"] == [1, 4]


def test_the_check_command_warns_and_fails_when_strict(runbook):
    out = io.StringIO()
    call_command("check_escalation", stdout=out)
    assert "runbook" in out.getvalue()
    assert "L1, L4" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("check_escalation", "--strict", stdout=io.StringIO())

    Team.objects.filter(name__in=["operations", "executives"]).update(email="ops@x.test")
    out = io.StringIO()
    call_command("check_escalation", "--strict", stdout=out)
    assert "L1" not in out.getvalue()
    assert "L4" not in out.getvalue()


def test_the_admin_flags_them_in_the_list_and_on_the_policy_page(client, make_user, runbook):
    client.force_login(make_user(is_superuser=True))

    listing = client.get("/admin/escalation/escalationpolicy/").content.decode()
    page = client.get(f"/admin/escalation/escalationpolicy/{runbook.pk}/change/").content.decode()

    assert "L1, L4" in listing
    assert "L1, L4" in page
