"""The chat endpoints under hostile input, signed and unsigned: never a 5xx and never an error
of ours passed off as an answer; always JSON (or Slack's empty acknowledgement of a button);
a refusal changes nothing, and nobody but a linked person changes anything."""

from __future__ import annotations

import json
import logging
import time
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.models import ChatIdentity
from chat.auth import button_token
from incidents.models import Incident, TimelineEvent
from tests.chat.conftest import MATTERMOST_TOKEN, WORKSPACE, command_body, slack_signature
from tests.hostile import CONTENT_TYPES, FUZZ, raw_bodies, rolled_back, tally

pytestmark = pytest.mark.hostile

FORM = "application/x-www-form-urlencoded"
LINKED, UNLINKED = "U-LINKED", "U-STRANGER"

words = st.text(max_size=30) | st.sampled_from(
    ["declare", "ack", "acknowledge", "close", "P0", "P9", "INC-1", "INC-0", "INC-99999999999"]
)
command_texts = st.lists(words, max_size=6).map(" ".join) | st.text(max_size=2000)
form_content_types = st.sampled_from([FORM]) | st.sampled_from(CONTENT_TYPES)


@st.composite
def command_forms(draw) -> bytes:
    """A slash command as the chat sends it, with any of its fields replaced, dropped or
    added; or bytes that are no form at all."""
    fields = dict(
        (pair.split("=", 1) for pair in command_body("").decode().split("&")),
    )
    fields |= {"user_id": draw(st.sampled_from([LINKED, UNLINKED, ""])), "text": ""}
    fields["text"] = draw(command_texts)
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=3)):
        if draw(st.booleans()):
            fields.pop(name, None)
        else:
            fields[name] = draw(st.text(max_size=100))
    fields |= draw(st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3))
    form = urlencode(fields).encode()
    return draw(st.just(form) | raw_bodies({"text": fields.get("text", "")}))


def interaction(key: str) -> dict:
    return {
        "type": "block_actions",
        "user": {"id": LINKED, "username": "sam", "team_id": WORKSPACE},
        "team": {"id": WORKSPACE, "domain": "luxucare"},
        "actions": [{"action_id": "acknowledge", "value": key, "type": "button"}],
        "response_url": "https://hooks.slack.com/actions/T0001/1/abc",
    }


def interaction_forms(key: str) -> st.SearchStrategy[bytes]:
    """A button press as Slack posts it (its JSON in the form's `payload`), or bytes alone."""
    payloads = raw_bodies(interaction(key))
    return payloads.map(lambda payload: urlencode({"payload": payload}).encode()) | payloads


@pytest.fixture
def world(request, sysadmin, link_chat, declare, caplog):
    """A linked responder, an open incident for the buttons, the chat's error log, and the
    test whose cases are counted."""
    link_chat(sysadmin, external_id=LINKED)
    link_chat(sysadmin, external_id=LINKED, provider="mattermost")
    caplog.set_level(logging.ERROR, logger="chat")
    return SimpleNamespace(log=caplog, key=declare().key, test=request.node)


def stored() -> tuple[int, int, int]:
    return Incident.objects.count(), TimelineEvent.objects.count(), ChatIdentity.objects.count()


def answered(client, world, url, raw, content_type, acting: bool, **headers):
    """POST `raw`; check what every answer must be. Only a linked person, authenticated, may
    change anything (and may: a random line can be a valid command)."""
    world.log.clear()
    with rolled_back():
        return _answered(client, world, url, raw, content_type, acting, **headers)


def _answered(client, world, url, raw, content_type, acting: bool, **headers):
    before = stored()
    response = client.post(url, raw, content_type=content_type, **headers)
    tally(world.test, "cases")
    tally(world.test, "server_errors", int(response.status_code >= 500))

    assert response.status_code < 500, response.content[:500]
    # A command that raised is answered "something went wrong" and logged: a bug all the same.
    failed = [r for r in world.log.records if r.name.startswith("chat") and r.levelno >= 40]
    assert not failed, world.log.text[-2000:]
    if response.content or response.status_code != 200:
        assert response["Content-Type"] == "application/json", response["Content-Type"]
        assert isinstance(response.json(), dict)
    if response.status_code >= 400 or not acting:
        assert stored() == before, (response.status_code, response.content[:300])
    return response


def slack_headers(raw: bytes, how: str) -> dict:
    now = int(time.time())
    headers = {"HTTP_X_SLACK_REQUEST_TIMESTAMP": str(now)}
    if how == "signed":
        headers["HTTP_X_SLACK_SIGNATURE"] = slack_signature(raw, now)
    elif how == "wrong":
        headers["HTTP_X_SLACK_SIGNATURE"] = slack_signature(raw, now, "not-the-secret")
    return headers


def _acting(raw: bytes, how: str) -> bool:
    return how == "signed" and LINKED.encode() in raw


@FUZZ
@given(
    raw=command_forms(),
    content_type=form_content_types,
    how=st.sampled_from(["signed", "wrong", ""]),
)
def test_slack_commands_answer_hostile_input(client, world, raw, content_type, how):
    response = answered(
        client,
        world,
        "/api/v1/chat/slack/commands",
        raw,
        content_type,
        _acting(raw, how),
        **slack_headers(raw, how),
    )
    if how != "signed":
        assert response.status_code in (401, 413)


@FUZZ
@given(
    data=st.data(), content_type=form_content_types, how=st.sampled_from(["signed", "wrong", ""])
)
def test_slack_buttons_answer_hostile_input(client, world, data, content_type, how):
    raw = data.draw(interaction_forms(world.key))
    response = answered(
        client,
        world,
        "/api/v1/chat/slack/interactions",
        raw,
        content_type,
        _acting(raw, how),
        **slack_headers(raw, how),
    )
    if how != "signed":
        assert response.status_code in (401, 413)


@FUZZ
@given(
    raw=command_forms(),
    content_type=form_content_types,
    token=st.sampled_from([MATTERMOST_TOKEN, "not-the-token", ""]),
)
def test_mattermost_commands_answer_hostile_input(client, world, raw, content_type, token):
    response = answered(
        client,
        world,
        "/api/v1/chat/mattermost/commands",
        raw,
        content_type,
        token == MATTERMOST_TOKEN and LINKED.encode() in raw,
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    if token != MATTERMOST_TOKEN:
        assert response.status_code in (401, 413)


@FUZZ
@given(data=st.data(), content_type=st.sampled_from(["application/json"]) | form_content_types)
def test_mattermost_buttons_answer_hostile_input(client, world, data, content_type):
    """Mattermost signs no button press: the token Hikeshi put in the button is the proof."""
    signed = button_token(key=world.key, action="acknowledge")
    token = data.draw(st.just(signed) | st.sampled_from(["forged", ""]))
    shape = {"team_id": WORKSPACE, "user_id": LINKED, "context": {"token": token}}
    raw = data.draw(raw_bodies(shape))
    answered(
        client,
        world,
        "/api/v1/chat/mattermost/actions",
        raw,
        content_type,
        token == signed and LINKED.encode() in raw,
    )


@pytest.mark.parametrize(
    "action",
    [
        {"action_id": ["acknowledge"], "value": "INC-1"},
        {"action_id": "acknowledge", "value": ["INC-1"]},
        {"action_id": "acknowledge", "value": 1},
        {"action_id": {}, "value": None},
    ],
)
def test_a_button_whose_action_or_incident_is_no_string_is_malformed(client, world, action):
    raw = urlencode({"payload": json.dumps(interaction(world.key) | {"actions": [action]})})

    response = answered(
        client,
        world,
        "/api/v1/chat/slack/interactions",
        raw.encode(),
        FORM,
        True,
        **slack_headers(raw.encode(), "signed"),
    )

    assert response.status_code == 200 and response.json()["text"]
    assert not Incident.objects.exclude(state="detected").exists()
