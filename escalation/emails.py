"""E-mails rendered from notices: multipart text + HTML, in the recipient's language."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.defaultfilters import linebreaks
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from incidents.models import JST, Incident

from .models import Escalation, Notice, Team


def duration_text(delta: timedelta) -> str:
    """ "15 minutes", "1 hour 5 minutes" — whole minutes, in the active language."""
    minutes = max(0, int(delta.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours})
    if minutes or not hours:
        parts.append(ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes})
    return " ".join(parts)


def _links(incident: Incident) -> dict[str, str]:
    return {
        "admin_url": incident.get_absolute_admin_url(),
        "api_url": f"{settings.SITE_URL}/api/v1/incidents/{incident.key}/",
    }


def _contacts(emergency: bool) -> dict[str, Any]:
    teams = [
        {"name": t.name_ja if translation.get_language() == "ja" else t.name_en, "email": t.email}
        for t in Team.objects.exclude(email="").order_by("name")
    ]
    return {"contacts": teams, "emergency_phone": settings.EMERGENCY_PHONE if emergency else ""}


def _subject(incident: Incident, escalation: Escalation) -> str:
    # The level's own rule ("unresolved 15 minutes"), even when a catch-up sweep sends it late;
    # the body says how long it really has been.
    moment = escalation.fired_at if escalation.reason == Escalation.Reason.MANUAL else None
    elapsed = (moment or min(escalation.deadline, escalation.fired_at)) - incident.detected_at
    if elapsed < timedelta(minutes=1):
        state = _("detected")
    else:
        state = _("unresolved for %(duration)s") % {"duration": duration_text(elapsed)}
    return f"[{incident.severity}][L{escalation.level}] {incident.key} {incident.title} — {state}"


def _notice_context(notice: Notice) -> dict[str, Any]:
    incident, escalation = notice.incident, notice.escalation
    earlier = incident.escalations.filter(level__lt=escalation.level).order_by("level")
    return {
        "incident": incident,
        "escalation": escalation,
        "severity_meaning": incident.severity_meaning,
        "state": incident.get_state_display(),
        "since_detection": duration_text(escalation.fired_at - incident.detected_at),
        "earlier": earlier,
        **_links(incident),
        **_contacts(notice.data.get("emergency_contact", False)),
    }


def _item_context(notice: Notice) -> dict[str, Any]:
    incident = notice.incident
    return {
        "incident": incident,
        "escalation": notice.escalation,
        "severity_meaning": incident.severity_meaning,
        "state": incident.get_state_display(),
        **_links(incident),
    }


def _render(notice: Notice) -> tuple[str, str, str]:
    if notice.kind == Notice.Kind.MESSAGE:
        text = notice.data["text"]
        return notice.data["subject"], text, str(linebreaks(text, autoescape=True))
    if notice.kind == Notice.Kind.NOTICE:
        context = _notice_context(notice)
        subject = _subject(notice.incident, notice.escalation)
        name = "notice"
    else:
        items = [
            _item_context(item)
            for item in notice.items.select_related("incident", "escalation").order_by(
                "created_at", "pk"
            )
        ]
        period: datetime = notice.period
        context = {"items": items, "period": period, "trend": notice.data.get("trend")}
        context |= _contacts(False)
        if notice.kind == Notice.Kind.DIGEST:
            subject = _("[Hikeshi] Hourly digest %(at)s: %(n)d incidents") % {
                "at": period.astimezone(JST).strftime("%Y-%m-%d %H:00"),
                "n": len(items),
            }
            name = "digest"
        else:
            subject = _("[Hikeshi] Daily report %(day)s") % {
                "day": period.astimezone(JST).strftime("%Y-%m-%d")
            }
            name = "report"
    context |= {"notice": notice, "language": translation.get_language()}
    text = render_to_string(f"escalation/email/{name}.txt", context)
    html = render_to_string(f"escalation/email/{name}.html", context)
    return subject, text, html


def notice_message(notice: Notice) -> EmailMultiAlternatives:
    """The e-mail for a notice; its Message-ID is the notice's, the same on every resend."""
    with translation.override(notice.language or settings.LANGUAGE_CODE), timezone.override(JST):
        subject, text, html = _render(notice)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notice.recipient],
        headers={
            "Message-ID": notice.message_id,
            "Content-Language": notice.language,
            "X-Hikeshi-Notice": str(notice.pk),
            "Auto-Submitted": "auto-generated",
        },
    )
    message.attach_alternative(html, "text/html")
    return message
