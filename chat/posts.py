"""What Hikeshi posts to a team's channel, for the outbox (listed in `notices/chat.py`): an
escalation that reached the team, a later transition of that incident, a digest."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _

from config.base import duration_text
from escalation.emails import escalation_headline
from incidents.models import Action
from notices.links import act_url
from notices.models import Channel, Notice

from .messages import Message, mattermost_body, slack_body, teams_body


def _body(notice: Notice, message: Message) -> dict:
    if notice.channel == Channel.SLACK:
        return slack_body(message, response_type=False)
    if notice.channel == Channel.MATTERMOST:
        return mattermost_body(message, response_type=False)
    links = {"open": notice.incident.get_absolute_admin_url()} if notice.incident_id else {}
    if message.shows_buttons():  # Teams sends no button presses: its buttons are the links
        links["acknowledge"] = act_url(notice)
    return teams_body(message, links=links)


def _state_line(incident) -> str:
    since = duration_text(timezone.now() - incident.detected_at)
    return _("State: %(state)s · detected %(at)s JST (%(since)s ago)") % {
        "state": incident.get_state_display(),
        "at": timezone.localtime(incident.detected_at).strftime("%Y-%m-%d %H:%M"),
        "since": since,
    }


def escalation_post(notice: Notice) -> dict:
    """An escalation reached the team: what, how serious, since when, who else was told."""
    incident, escalation = notice.incident, notice.escalation
    lines = [
        escalation_headline(incident, escalation),
        _("Level %(n)d %(name)s") % {"n": escalation.level, "name": escalation.name},
        f"{incident.severity} — {incident.severity_meaning}",
        _state_line(incident),
    ]
    if escalation.recipients:
        lines.append(_("Notified: %(who)s") % {"who": ", ".join(escalation.recipients)})
    if incident.commander_id:
        lines.append(_("Commander: %(who)s") % {"who": incident.commander.get_username()})
    return _body(notice, Message(lines=lines, incident=incident))


def update_post(notice: Notice) -> dict:
    """A transition of an incident the channel was told about."""
    incident = notice.incident
    action = notice.data.get("action", "")
    label = Action(action).label if action in Action.values else action
    who = notice.data.get("actor") or _("Hikeshi")
    lines = [
        _("%(key)s %(title)s: %(action)s by %(who)s")
        % {"key": incident.key, "title": incident.title, "action": label, "who": who},
        _state_line(incident),
    ]
    return _body(notice, Message(lines=lines, incident=incident))


def digest_post(notice: Notice) -> dict:
    """1時間集約 / 日次レポート to a channel: one line per incident."""
    items = notice.items.select_related("incident").order_by("created_at", "pk")
    at = timezone.localtime(notice.period).strftime("%Y-%m-%d %H:%M")
    if notice.kind == Notice.Kind.DIGEST:
        title = _("Hourly digest %(at)s") % {"at": at}
    else:
        title = _("Daily report %(at)s") % {"at": at}
    lines = [title] + [
        f"[{item.incident.severity}] {item.incident.key} {item.incident.title} "
        f"({item.incident.get_state_display()})"
        for item in items
    ]
    return _body(notice, Message(lines=lines))
