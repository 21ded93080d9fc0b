"""Team channels follow their incidents: once an escalation has posted to a team's channel,
each later transition of that incident (acknowledged, resolved…) is posted there too."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from config.base import recorded_actor
from incidents.models import Incident
from notices.models import Channel, Delivery, Notice
from notices.services import notices_send_after_commit

from ..models import Team


def channel_updates_queue(
    *, incident: Incident, action: str, actor: AbstractBaseUser | None
) -> list[Notice]:
    """Inside the transition's transaction: one update per channel the incident reached."""
    levels = (incident.policy_snapshot or {}).get("levels", [])
    if not any(level.get("channels") for level in levels):
        return []  # its plan names no channel: nothing to look up
    reached = Notice.objects.filter(incident=incident, kind=Notice.Kind.NOTICE).exclude(
        channel=Channel.EMAIL
    )
    teams = Team.objects.filter(pk__in=reached.values("team_id")).exclude(chat_webhook_url="")
    person = recorded_actor(actor)
    updates = Notice.objects.bulk_create(
        Notice(
            kind=Notice.Kind.UPDATE,
            channel=team.chat_kind,
            incident=incident,
            team=team,
            recipient=team.name,
            language=team.language,
            delivery=Delivery.IMMEDIATE,
            data={
                "action": action,
                "state": incident.state,
                "actor": (person.get_full_name() or person.get_username()) if person else "",
            },
        )
        for team in teams.exclude(chat_kind="").order_by("pk")
    )
    notices_send_after_commit(updates)
    return updates
