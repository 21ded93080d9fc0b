"""Chat test helpers: signed Slack requests, Mattermost tokens, linked chat accounts, and a
local receiver standing in for the chats' webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest

from accounts.models import ChatIdentity
from tests.escalation.conftest import smtp, smtp_backend, worker_env  # noqa: F401 — shared fixtures
from tests.helpers import Receiver

SLACK_SECRETS = ["first-signing-secret", "second-signing-secret"]
MATTERMOST_TOKEN = "mattermost-command-token"
WORKSPACE = "T0001"


@pytest.fixture(autouse=True)
def chat_settings(settings):
    settings.SLACK_SIGNING_SECRETS = SLACK_SECRETS
    settings.MATTERMOST_TOKENS = [MATTERMOST_TOKEN]
    settings.CHAT_ALLOWED_HOSTS = ["127.0.0.1", "hooks.slack.com"]
    settings.SITE_URL = "http://testserver"
    return settings


def slack_signature(body: bytes, timestamp: int, secret: str = SLACK_SECRETS[0]) -> str:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@pytest.fixture
def slack(client):
    """POST to a Slack endpoint as Slack does: form-encoded, signed v0 with a timestamp."""

    def post(path, body: bytes, *, secret=SLACK_SECRETS[0], timestamp=None, signature=None, **h):
        timestamp = int(time.time()) if timestamp is None else timestamp
        headers = {
            "HTTP_X_SLACK_REQUEST_TIMESTAMP": str(timestamp),
            "HTTP_X_SLACK_SIGNATURE": signature or slack_signature(body, timestamp, secret),
        } | h
        return client.post(path, body, content_type="application/x-www-form-urlencoded", **headers)

    return post


def command_body(text: str, user: str = "U0001", **fields) -> bytes:
    return urlencode(
        {
            "token": "legacy",
            "team_id": WORKSPACE,
            "team_domain": "luxucare",
            "channel_id": "C0001",
            "channel_name": "incidents",
            "user_id": user,
            "user_name": "sam",
            "command": "/incident",
            "text": text,
            "response_url": "https://hooks.slack.com/commands/T0001/1/abc",
            "trigger_id": "1.2.3",
        }
        | fields
    ).encode()


@pytest.fixture
def slack_command(slack):
    """Run `/incident <text>` from Slack user `user`; returns the JSON answer."""

    def run(text: str, user: str = "U0001"):
        response = slack("/api/v1/chat/slack/commands", command_body(text, user))
        assert response.status_code == 200, response.content
        return response.json()

    return run


@pytest.fixture
def mattermost_command(client):
    def run(text: str, user: str = "mm-user-1", token: str = MATTERMOST_TOKEN):
        body = command_body(text, user) + b"&token=" + token.encode()
        return client.post(
            "/api/v1/chat/mattermost/commands",
            body,
            content_type="application/x-www-form-urlencoded",
            HTTP_AUTHORIZATION=f"Token {token}",
        )

    return run


@pytest.fixture
def link_chat():
    def link(user, external_id: str = "U0001", provider: str = "slack"):
        return ChatIdentity.objects.create(
            user=user, provider=provider, workspace=WORKSPACE, external_id=external_id
        )

    return link


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def interaction_body(action: str, key: str, *, user: str = "U0001", response_url: str) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "sam", "team_id": WORKSPACE},
        "team": {"id": WORKSPACE, "domain": "luxucare"},
        "actions": [{"action_id": action, "value": key, "type": "button"}],
        "response_url": response_url,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()
