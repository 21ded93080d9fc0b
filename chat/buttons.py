"""A button of a channel notice pressed: the same services as the commands, as the person
who pressed it; the answer is the incident's message as it now stands."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from config.base import ActionNotAllowed
from escalation.services.timers import incident_escalate
from incidents import services
from incidents.models import Action, Incident

from .commands import KEY, ChatUser, Refused, incident_headline, refusal_lines, unlinked
from .messages import BUTTONS, Message


def press(chat: ChatUser, action: str, key: str) -> tuple[Message, bool]:
    """(the message to show, whether it replaces the notice) for a button press."""
    if chat.user is None:
        return unlinked(), False
    match = KEY.match(key or "")
    incident = Incident.objects.filter(pk=match.group(1)).first() if match else None
    if action not in BUTTONS or incident is None:
        return Message([_("This button is not one of Hikeshi's.")]), False
    try:
        if action == "escalate":
            incident_escalate(
                incident=incident, actor=chat.user, reason=_("Escalated with the chat button")
            )
            incident.refresh_from_db()
        else:
            incident = services.incident_transition(
                incident=incident, action=action, actor=chat.user
            )
    except (Refused, PermissionDenied, ActionNotAllowed, ValidationError) as error:
        return Message(refusal_lines(error)), False
    done = _("%(who)s: %(action)s") % {
        "who": chat.user.get_username(),
        "action": Action(action).label if action in Action.values else _("Escalate"),
    }
    return Message([incident_headline(incident), done], incident=incident, public=True), True
