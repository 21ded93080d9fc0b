"""Escalations reach a team's channel through the outbox, like an e-mail, with buttons that
act; a chat that is down or rate-limited holds back neither e-mail nor other teams."""

import datetime as dt
import socket
import threading
import time

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from chat.auth import button_token
from config.base import SYSTEM
from config.celery import app as celery_app
from escalation.models import Team
from escalation.services.digests import digests_build
from escalation.services.policies import team_update
from incidents import services
from incidents.models import State
from notices.models import Notice
from notices.services import notice_deliver_chat
from tests.chat.conftest import interaction_body
from tests.escalation.conftest import make_policy, running_worker
from tests.helpers import wait_for


def chat_team(url: str, kind: str = "slack") -> Team:
    team = Team.objects.create(name="ops-room", name_ja="運用室", name_en="Ops room")
    return team_update(team=team, actor=SYSTEM, chat_kind=kind, chat_webhook_url=url)


@pytest.fixture
def escalated(receiver, declare):
    """An incident whose level 1 reaches a team with a Slack channel (and an address)."""

    def make(kind: str = "slack", severity: str = "P1"):
        team = chat_team(receiver.url(), kind)
        policy = make_policy("chat", levels=[(1, 0, [], "")])
        policy.levels.get().teams.add(team)
        return declare(policy_name="chat", severity=severity)

    return make


def test_an_escalation_posts_to_the_teams_slack_channel_with_buttons(escalated, receiver):
    incident = escalated("slack")

    assert notice_deliver_chat() == 1

    (body,) = receiver.bodies()
    assert incident.key in body["text"] and "L1" in body["text"]
    buttons = body["blocks"][1]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("acknowledge", incident.key),
        ("resolve", incident.key),
        ("escalate", incident.key),
    ]
    notice = Notice.objects.get(channel="slack")
    assert notice.status == "sent"
    assert incident.timeline.filter(kind="notice_sent", message="Slack: ops-room").exists()


def test_mattermost_and_teams_posts_carry_their_own_buttons(escalated, receiver):
    mattermost = escalated("mattermost")
    notice_deliver_chat()
    (post,) = receiver.bodies()
    actions = post["attachments"][0]["actions"]
    assert [a["id"] for a in actions] == ["acknowledge", "resolve", "escalate"]
    assert actions[0]["integration"]["url"] == "http://testserver/api/v1/chat/mattermost/actions"
    assert mattermost.key in post["text"]

    team = Team.objects.get(name="ops-room")
    team_update(team=team, actor=SYSTEM, chat_kind="teams")
    services.incident_transition(incident=mattermost, action="resolve", actor=mattermost.created_by)
    notice_deliver_chat()
    card = receiver.bodies()[-1]["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard"
    assert [a["title"] for a in card["actions"]] in (["開く"], ["Open"])


def test_a_500_is_retried_with_backoff_and_then_sent(escalated, receiver):
    receiver.script = [(500, {})]
    escalated()

    assert notice_deliver_chat() == 0
    notice = Notice.objects.get(channel="slack")
    assert (notice.status, notice.attempts) == ("pending", 1)
    assert "500" in notice.last_error
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=5)):
        assert notice_deliver_chat() == 1

    assert len(receiver.bodies()) == 2
    assert Notice.objects.get(pk=notice.pk).status == "sent"


def test_a_429_is_retried_no_sooner_than_its_retry_after(escalated, receiver, settings):
    settings.NOTICE_RETRY_BASE_SECONDS = 0  # only Retry-After keeps it waiting
    receiver.script = [(429, {"Retry-After": "2"})]
    escalated()
    refused_at = timezone.now()

    assert notice_deliver_chat() == 0
    notice = Notice.objects.get(channel="slack")
    assert notice.next_attempt_at >= refused_at + dt.timedelta(seconds=2)
    assert notice.attempts == 0  # being rate-limited is not a failure
    with time_machine.travel(refused_at + dt.timedelta(seconds=1.5)):
        assert notice_deliver_chat() == 0
    with time_machine.travel(notice.next_attempt_at + dt.timedelta(milliseconds=10)):
        assert notice_deliver_chat() == 1
    assert len(receiver.bodies()) == 2


def test_later_transitions_are_posted_to_the_channel_too(escalated, receiver, sysadmin):
    incident = escalated()
    notice_deliver_chat()

    services.incident_transition(incident=incident, action="acknowledge", actor=sysadmin)
    assert notice_deliver_chat() == 1

    update = receiver.bodies()[-1]
    assert sysadmin.username in update["text"] and incident.key in update["text"]


def test_a_slack_button_acts_as_the_presser_and_replaces_the_message(
    escalated, receiver, slack, link_chat, sysadmin, monkeypatch, django_capture_on_commit_callbacks
):
    # The settings' own (namespaced) key: Celery 5.6 reads it before the plain one.
    monkeypatch.setitem(celery_app.conf, "CELERY_TASK_ALWAYS_EAGER", True)
    link_chat(sysadmin)
    incident = escalated()
    body = interaction_body("acknowledge", incident.key, response_url=receiver.url("/respond"))

    with django_capture_on_commit_callbacks(execute=True):
        response = slack("/api/v1/chat/slack/interactions", body)

    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.state == State.TRIAGE
    assert incident.timeline.get(kind="acknowledge").actor == sysadmin
    (replaced,) = [b for at, path, b in receiver.received if path == "/respond"]
    assert replaced["replace_original"] is True
    assert sysadmin.username in replaced["text"]


def test_a_mattermost_button_acts_and_updates_the_post(client, declare, sysadmin, link_chat):
    link_chat(sysadmin, external_id="mm-1", provider="mattermost")
    incident = declare()
    press = {
        "user_id": "mm-1",
        "team_id": "T0001",
        "context": {"token": button_token(key=incident.key, action="resolve")},
    }

    response = client.post(
        "/api/v1/chat/mattermost/actions", press, content_type="application/json"
    )

    assert response.status_code == 200
    assert incident.key in response.json()["update"]["message"]
    incident.refresh_from_db()
    assert incident.state == State.POSTMORTEM


def test_a_button_refuses_what_the_role_may_not_do_and_changes_nothing(
    client, declare, make_user, link_chat
):
    link_chat(make_user("executives"), external_id="mm-2", provider="mattermost")
    incident = declare()
    press = {
        "user_id": "mm-2",
        "team_id": "T0001",
        "context": {"token": button_token(key=incident.key, action="acknowledge")},
    }

    response = client.post(
        "/api/v1/chat/mattermost/actions", press, content_type="application/json"
    )

    assert "ephemeral_text" in response.json()
    incident.refresh_from_db()
    assert incident.state == State.DETECTED


class Blackhole:
    """A chat that accepts connections and never answers (each post waits its timeout)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.connections = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.connections.append(self.sock.accept())
            except OSError:
                return

    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    def close(self):
        self.sock.close()


@pytest.mark.django_db(transaction=True)
def test_a_chat_that_hangs_never_delays_the_e_mails_of_the_same_escalation(
    worker_env,
    smtp,
    tmp_path,
    sysadmin,  # noqa: F811
):
    hole = Blackhole()
    env = {"CHAT_ALLOWED_HOSTS": "127.0.0.1", "CHAT_TIMEOUT_SECONDS": "60"}
    team = chat_team(hole.url())
    team_update(team=team, actor=SYSTEM, email="ops-room@x.test")
    policy = make_policy("hang", levels=[(1, 0, [], "")])
    policy.levels.get().teams.add(team)
    try:
        with (
            running_worker(smtp, tmp_path, **env),
            running_worker(smtp, tmp_path, queues="chat", beat=False, **env),
        ):
            declared_at = time.monotonic()
            incident = services.incident_declare(
                actor=sysadmin, title="チャット停止中", severity="P1", policy_name="hang"
            )
            assert wait_for(lambda: smtp.mailbox.to("ops-room@x.test"), timeout=60)
            mailed_after = smtp.mailbox.received[0][2] - declared_at
            chat_notice = Notice.objects.get(incident=incident, channel="slack")
            assert wait_for(lambda: hole.connections, timeout=30)  # the chat worker is stuck
            assert chat_notice.status in ("pending", "sending")
            assert mailed_after < 10
    finally:
        hole.close()


def test_a_p2_escalation_waits_for_the_channels_hourly_digest(escalated, receiver):
    incident = escalated(severity="P2")

    assert notice_deliver_chat() == 0  # P2: collected, not posted at once
    with time_machine.travel(timezone.now() + dt.timedelta(hours=1)):
        digests_build()
        assert notice_deliver_chat() == 1

    (digest,) = receiver.bodies()
    assert incident.key in digest["text"]
    assert Notice.objects.get(kind="notice", channel="slack").status == "sent"


def test_a_redirect_is_not_followed_and_counts_as_a_refusal(escalated, receiver):
    receiver.script = [(302, {"Location": "http://example.org/elsewhere"})]
    escalated()

    assert notice_deliver_chat() == 0

    notice = Notice.objects.get(channel="slack")
    assert (notice.status, notice.attempts) == ("pending", 1)
    assert "302" in notice.last_error
    assert len(receiver.bodies()) == 1


def test_a_webhook_on_a_host_that_is_not_allowed_is_refused_and_never_posted_to(
    escalated, receiver, settings
):
    escalated()
    settings.CHAT_ALLOWED_HOSTS = ["hooks.slack.com"]
    with pytest.raises(ValidationError, match="CHAT_ALLOWED_HOSTS"):
        team_update(
            team=Team.objects.get(name="ops-room"),
            actor=SYSTEM,
            chat_webhook_url="http://attacker.example/hook",
        )

    assert notice_deliver_chat() == 0  # the old webhook's host is no longer allowed either
    assert receiver.bodies() == []
    assert "not allowed" in Notice.objects.get(channel="slack").last_error
