"""Messages in each chat's format: Slack (`text` + blocks), Mattermost (`text` +
attachments with buttons) and Microsoft Teams (an Adaptive Card). `text` always carries the
whole message as plain text; blocks and attachments add the buttons."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import pgettext

from incidents.models import Incident

from .auth import button_token

# The buttons of an incident's message, in the order a responder needs them.
BUTTONS = ("acknowledge", "resolve", "escalate")
SEVERITY_COLOURS = {"P0": "#b91c1c", "P1": "#ea580c", "P2": "#ca8a04", "P3": "#4b5563"}


def button_label(action: str) -> str:
    return {
        "acknowledge": pgettext("button", "Acknowledge"),
        "resolve": pgettext("button", "Resolve"),
        "escalate": pgettext("button", "Escalate"),
        "open": pgettext("button", "Open"),
    }[action]


@dataclass
class Message:
    """What to say: plain text lines, and the incident whose buttons go with them (if any)."""

    lines: list[str]
    incident: Incident | None = None
    public: bool = False
    buttons: tuple[str, ...] = field(default=BUTTONS)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def shows_buttons(self) -> bool:
        return self.incident is not None and self.incident.is_active and bool(self.buttons)


def slack_escape(text: str) -> str:
    """Slack reads &, < and > as markup (links, mentions): user text must not."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(message: Message, *, response_type: bool = True) -> dict:
    body: dict = {"text": slack_escape(message.text)}
    if response_type:
        body["response_type"] = "in_channel" if message.public else "ephemeral"
    blocks: list[dict] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(message.text)[:3000]}}
    ]
    if message.shows_buttons():
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": button_label(action)},
                        "action_id": action,
                        "value": message.incident.key,
                        **({"style": "primary"} if action == "acknowledge" else {}),
                    }
                    for action in message.buttons
                ],
            }
        )
    body["blocks"] = blocks
    return body


def mattermost_body(message: Message, *, response_type: bool = True) -> dict:
    body: dict = {"text": message.text}
    if response_type:
        body["response_type"] = "in_channel" if message.public else "ephemeral"
    if message.shows_buttons():
        incident = message.incident
        body["attachments"] = [
            {
                "fallback": message.text,
                "color": SEVERITY_COLOURS.get(incident.severity, "#4b5563"),
                "actions": [
                    {
                        "id": action,
                        "name": button_label(action),
                        "integration": {
                            "url": f"{settings.SITE_URL}/api/v1/chat/mattermost/actions",
                            "context": {"token": button_token(key=incident.key, action=action)},
                        },
                    }
                    for action in message.buttons
                ],
            }
        ]
    return body


def teams_body(message: Message, *, links: dict[str, str]) -> dict:
    """A Teams Workflows webhook post: an Adaptive Card whose buttons are links (Teams does not
    send commands here); `links` maps a button to its URL."""
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": line,
                            "wrap": True,
                            **({"weight": "Bolder", "size": "Medium"} if n == 0 else {}),
                        }
                        for n, line in enumerate(message.lines)
                    ],
                    "actions": [
                        {"type": "Action.OpenUrl", "title": button_label(name), "url": url}
                        for name, url in links.items()
                    ],
                },
            }
        ],
    }
