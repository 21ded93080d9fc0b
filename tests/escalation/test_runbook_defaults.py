"""The loader creates the runbook's 報告フロー once and keeps a manager's edits."""

import io

from django.core.management import call_command

from escalation.models import EscalationPolicy, Team


def test_the_default_policy_is_the_runbooks_report_flow(db):
    policy = EscalationPolicy.objects.get(is_default=True)
    levels = policy.snapshot()["levels"]
    assert [(lv["number"], lv["delay_seconds"], lv["min_severity"]) for lv in levels] == [
        (1, 0, None),
        (2, 900, None),
        (3, 3600, None),
        (4, 3600, "P0"),
    ]
    assert [lv["teams"] for lv in levels] == [
        ["operations"],
        ["development"],
        ["sysadmin"],
        ["executives"],
    ]
    assert [lv["emergency_contact"] for lv in levels] == [False, False, True, True]
    assert Team.objects.get(name="sysadmin").email == "admin@luxucare.co.jp"
    assert Team.objects.get(name="development").email == "dev-team@luxucare.co.jp"


def test_running_again_keeps_edits_and_applies_addresses_set_in_the_environment(
    db, monkeypatch, settings
):
    EscalationPolicy.objects.filter(name="runbook").update(stop_on="acknowledged")
    monkeypatch.setenv("TEAM_SYSADMIN_EMAIL", "sre@example.test")
    settings.TEAM_SYSADMIN_EMAIL = "sre@example.test"
    call_command("load_runbook_defaults", stdout=io.StringIO())
    assert EscalationPolicy.objects.get(name="runbook").stop_on == "acknowledged"
    assert EscalationPolicy.objects.count() == 1
    assert Team.objects.get(name="sysadmin").email == "sre@example.test"
