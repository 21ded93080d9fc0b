"""Chat requests are authenticated before anything in them is read: a refused one is a 401
in the documented shape, logged, and changes nothing."""

import time

import pytest

from incidents.models import Incident
from tests.chat.conftest import SLACK_SECRETS, command_body, slack_signature

COMMANDS = "/api/v1/chat/slack/commands"
DECLARE = command_body("declare P1 決済APIの応答遅延")


@pytest.fixture
def linked_operator(operator, link_chat):
    link_chat(operator)
    return operator


def test_a_request_signed_with_the_secret_is_answered(slack, linked_operator):
    response = slack(COMMANDS, DECLARE)

    assert response.status_code == 200
    assert Incident.objects.get().title == "決済APIの応答遅延"


def test_the_second_of_two_secrets_works_while_the_first_is_rotated_out(slack, linked_operator):
    response = slack(COMMANDS, DECLARE, secret=SLACK_SECRETS[1])

    assert response.status_code == 200
    assert Incident.objects.count() == 1


@pytest.mark.parametrize(
    "how",
    [
        pytest.param(lambda now: {"secret": "not-the-secret"}, id="a wrong secret"),
        pytest.param(lambda now: {"timestamp": now - 301}, id="a timestamp 301 s old"),
        pytest.param(lambda now: {"timestamp": now + 301}, id="a timestamp 301 s ahead"),
        pytest.param(
            lambda now: {"timestamp": now, "signature": slack_signature(command_body("list"), now)},
            id="a tampered body",
        ),
    ],
)
def test_a_request_failing_a_check_is_refused_and_changes_nothing(
    slack, linked_operator, how, caplog
):
    with caplog.at_level("WARNING", logger="chat.auth"):
        response = slack(COMMANDS, DECLARE, **how(int(time.time())))

    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"
    assert not Incident.objects.exists()
    assert "refused from 127.0.0.1" in caplog.text


def test_missing_signature_headers_are_refused(client, linked_operator):
    response = client.post(COMMANDS, DECLARE, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 401
    assert not Incident.objects.exists()


def test_a_body_that_is_not_utf8_is_refused_even_when_signed(slack, linked_operator):
    body = b"team_id=T0001&user_id=U0001&text=declare+P1+\xff\xfe"

    response = slack(COMMANDS, body)

    assert response.status_code == 401
    assert not Incident.objects.exists()


def test_a_mattermost_command_with_a_wrong_token_is_refused(
    mattermost_command, operator, link_chat
):
    link_chat(operator, external_id="mm-user-1", provider="mattermost")

    response = mattermost_command("declare P1 決済API", token="guessed")

    assert response.status_code == 401
    assert not Incident.objects.exists()


def test_a_mattermost_button_without_hikeshis_token_is_refused(client, declare):
    incident = declare()
    body = {"user_id": "mm-user-1", "team_id": "T0001", "context": {"token": "forged"}}

    response = client.post("/api/v1/chat/mattermost/actions", body, content_type="application/json")

    assert response.status_code == 401
    incident.refresh_from_db()
    assert incident.state == "detected"


def test_a_chat_that_is_not_configured_answers_404(client, settings):
    settings.SLACK_SIGNING_SECRETS = []
    settings.MATTERMOST_TOKENS = []
    form = "application/x-www-form-urlencoded"

    slack = client.post(COMMANDS, DECLARE, content_type=form)
    mattermost = client.post("/api/v1/chat/mattermost/commands", DECLARE, content_type=form)

    assert (slack.status_code, mattermost.status_code) == (404, 404)
    assert slack.json()["error"] == "not_found"
