"""Every `/incident` command through the real endpoints, as the linked person with their role:
the same services, timeline and audit as the admin and the API."""

import pytest
from auditlog.models import LogEntry

from accounts.models import Profile
from checklists.models import RunItem
from incidents.models import Incident, State, TimelineEvent
from tests.chat.conftest import MATTERMOST_TOKEN
from vendors.models import Vendor
from vendors.services import vendor_ticket_open


@pytest.fixture
def sysadmin_in_chat(sysadmin, link_chat):
    link_chat(sysadmin)
    return sysadmin


@pytest.fixture
def incident(declare):
    return declare(title="決済APIの応答遅延", severity="P1")


def test_declare_opens_an_incident_and_answers_in_the_channel(slack_command, sysadmin_in_chat):
    answer = slack_command("declare P0 全システム停止")

    incident = Incident.objects.get()
    assert (incident.severity, incident.title, incident.created_by) == (
        "P0",
        "全システム停止",
        sysadmin_in_chat,
    )
    assert answer["response_type"] == "in_channel"
    assert incident.key in answer["text"]
    buttons = [element["action_id"] for element in answer["blocks"][1]["elements"]]
    assert buttons == ["acknowledge", "resolve", "escalate"]


def test_japanese_aliases_run_the_same_commands(slack_command, sysadmin_in_chat, incident):
    answer = slack_command(f"受領 {incident.pk}")

    incident.refresh_from_db()
    assert incident.state == State.TRIAGE
    assert answer["response_type"] == "in_channel"
    event = incident.timeline.get(kind="acknowledge")
    assert event.actor == sysadmin_in_chat


@pytest.mark.parametrize(
    "command, state",
    [
        ("ack", State.TRIAGE),
        ("acknowledge", State.TRIAGE),
        ("resolve", State.POSTMORTEM),
        ("解決", State.POSTMORTEM),
    ],
)
def test_transitions_move_the_incident(slack_command, sysadmin_in_chat, incident, command, state):
    slack_command(f"{command} {incident.key}")

    assert Incident.objects.get(pk=incident.pk).state == state


def test_the_lifecycle_from_chat_with_notes_and_an_audit_trail(
    slack_command, sysadmin_in_chat, incident
):
    for command in ("ack", "調査", "recover", "resolve"):
        slack_command(f"{command} {incident.key}")
    slack_command(f"note {incident.key} 接続プールを拡張した")

    incident.refresh_from_db()
    assert incident.state == State.POSTMORTEM
    note = incident.timeline.get(kind=TimelineEvent.Kind.NOTE)
    assert (note.message, note.actor) == ("接続プールを拡張した", sysadmin_in_chat)
    entries = LogEntry.objects.get_for_object(incident).filter(action=LogEntry.Action.UPDATE)
    assert {entry.actor for entry in entries} == {sysadmin_in_chat}


def test_close_with_missing_requirements_lists_them_one_per_line(
    slack_command, sysadmin_in_chat, incident
):
    slack_command(f"resolve {incident.key}")

    answer = slack_command(f"close {incident.key}")

    assert answer["response_type"] == "ephemeral"
    lines = answer["text"].split("\n")
    missing = [line for line in lines if line.startswith("- ")]
    required = RunItem.objects.filter(run__incident=incident, required=True).count()
    assert len(missing) == 2 + required  # root cause, resolution, then each item
    assert Incident.objects.get(pk=incident.pk).state == State.POSTMORTEM


def test_an_executive_may_read_and_add_notes_but_not_acknowledge(
    slack_command, make_user, link_chat, incident
):
    link_chat(make_user("executives"))

    refused = slack_command(f"ack {incident.key}")
    status = slack_command(f"status {incident.key}")
    noted = slack_command(f"note {incident.key} 経営判断を待つ")

    assert refused["response_type"] == "ephemeral"
    assert Incident.objects.get(pk=incident.pk).state == State.DETECTED
    assert not incident.timeline.filter(kind="acknowledge").exists()
    assert incident.key in status["text"] and "P1" in status["text"]
    assert incident.timeline.filter(kind="note").count() == 1
    assert noted["response_type"] == "ephemeral"


def test_an_unlinked_user_may_only_ask_for_help_and_a_link(slack_command, incident):
    refused = slack_command(f"ack {incident.key}", user="U-stranger")
    helped = slack_command("help", user="U-stranger")
    linked = slack_command("link", user="U-stranger")

    assert "/incident link" in refused["text"]
    assert Incident.objects.get(pk=incident.pk).state == State.DETECTED
    assert "/incident declare" in helped["text"]
    assert "http://testserver/chat/link/" in linked["text"]
    assert linked["response_type"] == "ephemeral"


def test_answers_are_in_the_persons_language(slack_command, sysadmin_in_chat, incident):
    japanese = slack_command(f"ack {incident.key}")
    Profile.objects.create(user=sysadmin_in_chat, language="en")
    english = slack_command(f"status {incident.key}")

    assert "受領" in japanese["text"] or "確認" in japanese["text"]
    assert "Escalation level" in english["text"]


@pytest.mark.parametrize(
    "text, says",
    [
        ("frobnicate INC-1", "frobnicate"),
        ("ack", "INC-42"),
        ("ack INC-999999", "INC-999999"),
        ("declare P7 題名", "P7"),
        ("dismiss {key}", "/incident dismiss"),
        ("escalate {key}", "/incident escalate"),
        ("check {key} 99", "99"),
    ],
)
def test_bad_input_says_what_is_wrong_and_how_to_write_it(
    slack_command, sysadmin_in_chat, incident, text, says
):
    answer = slack_command(text.format(key=incident.key))

    assert answer["response_type"] == "ephemeral"
    assert says in answer["text"]
    assert Incident.objects.get(pk=incident.pk).state == State.DETECTED


def test_list_shows_active_incidents_most_serious_first(slack_command, sysadmin_in_chat, declare):
    declare(title="軽微", severity="P3")
    declare(title="停止", severity="P0")
    resolved = declare(title="解決済み", severity="P1")
    slack_command(f"resolve {resolved.key}")

    answer = slack_command("list")

    lines = answer["text"].split("\n")[1:]
    assert [line.split()[0] for line in lines] == ["[P0]", "[P3]"]


def test_status_shows_level_next_escalation_commander_and_checklists(
    slack_command, sysadmin_in_chat, incident
):
    answer = slack_command(f"状況 {incident.pk}")

    assert incident.key in answer["text"]
    assert "/ " in answer["text"]  # checklist progress, done / total
    assert answer["response_type"] == "ephemeral"


def test_escalate_severity_and_commander(slack_command, sysadmin_in_chat, incident, make_user):
    other = make_user("operations", username="yamada")

    escalated = slack_command(f"escalate {incident.key} 開発チームの判断が必要")
    raised = slack_command(f"重大度 {incident.key} P0")
    commanded = slack_command(f"commander {incident.key} @yamada")
    myself = slack_command(f"指揮者 {incident.key} me")

    incident.refresh_from_db()
    assert incident.escalation_level >= 2
    assert incident.severity == "P0"
    assert escalated["response_type"] == raised["response_type"] == "in_channel"
    assert "yamada" in commanded["text"]
    assert incident.commander == sysadmin_in_chat
    assert myself["response_type"] == "ephemeral"
    assert incident.timeline.filter(kind="commander").count() == 2
    assert list(incident.timeline.filter(kind="commander").values_list("data__to", flat=True)) == [
        other.username,
        sysadmin_in_chat.username,
    ]


def test_checklist_and_check_tick_the_numbered_item(slack_command, sysadmin_in_chat, incident):
    listed = slack_command(f"checklist {incident.key}")
    ticked = slack_command(f"チェック {incident.key} 1")

    assert "☐ 1." in listed["text"]
    first = RunItem.objects.filter(run__incident=incident).order_by("run", "position", "pk")[0]
    assert first.status == "done" and first.by == sysadmin_in_chat
    assert ticked["text"].startswith("☑ 1.")
    assert incident.timeline.filter(kind="checklist_done").count() == 1


def test_dismiss_needs_a_reason_and_reopen_and_known_and_simulate(
    slack_command, sysadmin_in_chat, make_user, link_chat, incident, declare
):
    slack_command(f"却下 {incident.key} 誤検知")
    other = declare(title="応答時間>2秒 パフォーマンス低下")
    slack_command(f"resolve {other.key}")
    slack_command(f"再開 {other.key}")
    known = slack_command(f"known {other.key}")

    assert Incident.objects.get(pk=incident.pk).state == State.DISMISSED
    assert Incident.objects.get(pk=other.pk).state == State.INVESTIGATING
    assert "パフォーマンス低下" in known["text"] or "Slow responses" in known["text"]

    refused = slack_command("simulate runbook P0")
    link_chat(make_user("managers"), external_id="U-manager")
    planned = slack_command("simulate runbook P0", user="U-manager")
    assert Incident.objects.count() == 2
    assert "L1" not in refused["text"]
    assert "L4" in planned["text"] and "L1" in planned["text"]


def test_mattermost_commands_answer_with_attachments_and_signed_buttons(
    mattermost_command, operator, link_chat, incident
):
    link_chat(operator, external_id="mm-user-1", provider="mattermost")

    response = mattermost_command(f"status {incident.key}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["response_type"] == "ephemeral" and incident.key in body["text"]
    actions = body["attachments"][0]["actions"]
    assert [a["id"] for a in actions] == ["acknowledge", "resolve", "escalate"]
    assert actions[0]["integration"]["context"]["token"]
    assert MATTERMOST_TOKEN not in response.content.decode()


def test_status_lists_the_vendors_of_the_affected_service(slack_command, sysadmin_in_chat, declare):
    incident = declare(title="静的アセットが404", service="CDN")
    vendor_ticket_open(
        incident=incident,
        vendor=Vendor.objects.get(key="cdn"),
        reference="CF-991",
        actor=sysadmin_in_chat,
    )

    lines = slack_command(f"status {incident.key}")["text"].split("\n")

    assert "ベンダー: CDN — 各種プロバイダー窓口 (対応中のチケット: CF-991)" in lines
    assert not [line for line in lines if "Vercel" in line or "Supabase" in line]
