"""The chat's checklist shows a linked heartbeat's last ping under its item."""

import datetime as dt

from checklists.models import RunItem
from config.base import JST
from heartbeats.services import heartbeat_ping
from tests.chat.conftest import SLACK_SECRETS


def test_a_linked_item_shows_the_last_ping_in_chat(
    slack_command, sysadmin, link_chat, declare, make_heartbeat, settings
):
    """Any template item can be linked: here the first item of an incident's checklist."""
    settings.SLACK_SIGNING_SECRETS = SLACK_SECRETS
    link_chat(sysadmin)
    incident = declare()
    first = RunItem.objects.filter(run__incident=incident).order_by("run", "position", "pk")[0]
    heartbeat = make_heartbeat("deploy-check", checklist_item=first.template_item)
    heartbeat_ping(heartbeat=heartbeat, now=dt.datetime(2026, 3, 2, 3, 4, tzinfo=JST))
    listed = slack_command(f"checklist {incident.key}")
    assert "deploy-check" in listed["text"]
    assert "2026-03-02 03:04 JST" in listed["text"]
