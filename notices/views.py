"""Acting from a notice: the acknowledge link of an escalation e-mail (and of a Teams post).

GET never acts (mail scanners fetch links): it shows the incident and one button. POST acts
as the person whose address received the notice, with that person's role; a notice to a team
address asks the reader to log in and acts as them. A person whose role may not read incidents
is refused the page. A used, expired or altered link says which and changes nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts.tokens import TokenRefused, token_read, token_spend
from config.base import ActionNotAllowed, audit_actor_set, require_permission
from incidents.services import incident_transition

from .links import ACT_PURPOSE
from .models import Channel, Notice


def notice_reader(notice: Notice):
    """The one active person whose address received this notice; None for a team address."""
    if notice.channel != Channel.EMAIL:
        return None
    people = get_user_model().objects.filter(email__iexact=notice.recipient, is_active=True)
    found = list(people[:2])
    return found[0] if len(found) == 1 else None


def _page(request, context: dict, status: int = 200):
    return render(request, "notices/act.html", context, status=status)


@require_http_methods(["GET", "POST"])
def act(request, token: str):
    try:
        found = token_read(ACT_PURPOSE, token, max_age=settings.ACT_LINK_MAX_AGE_SECONDS)
    except TokenRefused as refusal:
        return _page(request, {"refusal": refusal}, 400 if refusal.reason == "tampered" else 410)
    notice = (
        Notice.objects.select_related("incident")
        .filter(pk=found.payload["notice"], incident_id=found.payload["incident"])
        .first()
    )
    if notice is None:
        return _page(request, {"refusal": TokenRefused("tampered")}, 400)
    incident = notice.incident
    actor = notice_reader(notice) or (request.user if request.user.is_authenticated else None)
    if actor is None:
        return redirect_to_login(request.get_full_path())
    try:
        # The page shows the incident: a role that may not read incidents (integrations, no
        # role) is refused here as at the API and the admin, whoever the notice went to.
        require_permission(actor, "incidents.view_incident")
    except PermissionDenied:
        return _page(request, {"refusal": _("Your role may not do this.")}, 403)
    context = {"incident": incident, "actor": actor}
    if request.method == "GET":
        return _page(request, context)
    audit_actor_set(actor)
    where = (
        _("Acknowledged from the e-mail")
        if notice.channel == Channel.EMAIL
        else _("Acknowledged from %(chat)s") % {"chat": notice.get_channel_display()}
    )
    try:
        with transaction.atomic():
            token_spend(found)
            incident = incident_transition(
                incident=incident, action=found.payload["action"], actor=actor, note=where
            )
    except TokenRefused as refusal:
        return _page(request, context | {"refusal": refusal}, 410)
    except PermissionDenied:
        return _page(request, context | {"refusal": _("Your role may not do this.")}, 403)
    except ActionNotAllowed:
        refusal = _("Nothing to do: %(key)s is already %(state)s.") % {
            "key": incident.key,
            "state": incident.get_state_display(),
        }
        incident.refresh_from_db()
        return _page(request, context | {"refusal": refusal, "incident": incident}, 409)
    return _page(request, context | {"incident": incident, "done": True})
