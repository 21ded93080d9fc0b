"""What escalation's notices say: the notice of a level reached, the hourly digest and the
daily report. The outbox (`notices.emails`) renders them when it sends them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from config.base import JST, duration_text
from incidents.models import Incident, State
from notices.links import act_url
from notices.models import Notice
from oncall import resolver
from oncall.models import Schedule
from vendors.selectors import incident_vendor_contacts

from .models import Escalation, Team


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


def escalation_headline(incident: Incident, escalation: Escalation) -> str:
    """`[P1][L2] INC-42 title — unresolved for 15 minutes`: an e-mail's subject, a post's title.

    The level's own rule ("unresolved 15 minutes"), even when a catch-up sweep sends it late;
    the body says how long it really has been.
    """
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
        # One click from the mail: a confirmation page, then the acknowledgement (24 h, once).
        "acknowledge_url": act_url(notice) if incident.state == State.DETECTED else "",
        **_links(incident),
        **_contacts(notice.data.get("emergency_contact", False)),
        # 外部ベンダー連絡先: for the levels that decide (system administrators, executives), the
        # vendors of the affected service, beside the emergency phone those levels carry.
        "vendors": (
            incident_vendor_contacts(incident) if notice.data.get("emergency_contact") else []
        ),
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


def _rendered(name: str, context: dict[str, Any], notice: Notice) -> tuple[str, str]:
    context |= {"notice": notice, "language": translation.get_language()}
    text = render_to_string(f"escalation/email/{name}.txt", context)
    html = render_to_string(f"escalation/email/{name}.html", context)
    return text, html


def notice_content(notice: Notice) -> tuple[str, str, str]:
    """An escalation notice: the incident as it is now, and the level that was reached."""
    subject = escalation_headline(notice.incident, notice.escalation)
    return subject, *_rendered("notice", _notice_context(notice), notice)


def _collected_context(notice: Notice) -> dict[str, Any]:
    items = [
        _item_context(item)
        for item in notice.items.select_related("incident", "escalation").order_by(
            "created_at", "pk"
        )
    ]
    context = {"items": items, "period": notice.period, "trend": notice.data.get("trend")}
    return context | _contacts(False)


def digest_content(notice: Notice) -> tuple[str, str, str]:
    """1時間集約: the P2 notices of the hour, one message per recipient."""
    context = _collected_context(notice)
    subject = _("[Hikeshi] Hourly digest %(at)s: %(n)d incidents") % {
        "at": notice.period.astimezone(JST).strftime("%Y-%m-%d %H:00"),
        "n": len(context["items"]),
    }
    return subject, *_rendered("digest", context, notice)


def report_content(notice: Notice) -> tuple[str, str, str]:
    """日次レポート: the P3 notices of the day and the day's trend."""
    subject = _("[Hikeshi] Daily report %(day)s") % {
        "day": notice.period.astimezone(JST).strftime("%Y-%m-%d")
    }
    context = _collected_context(notice) | {"oncall": oncall_lines(notice.period)}
    return subject, *_rendered("report", context, notice)


def _person(shift) -> str:
    if shift.user is None:
        return _("nobody")
    return shift.user.get_full_name() or shift.user.get_username()


def oncall_lines(now: datetime, ahead: timedelta = timedelta(days=14)) -> list[dict]:
    """Per schedule, through the resolver: who is on call at `now` and until when, and the
    next hand-off (to whom, when) within `ahead`."""
    lines = []
    for schedule in Schedule.objects.order_by("name"):
        found = resolver.shifts(schedule, now, now + ahead)
        run = 1
        while run < len(found) and found[run].user_id == found[0].user_id:
            run += 1
        following = found[run] if run < len(found) else None
        zone = schedule.zone
        lines.append(
            {
                "schedule": schedule.name,
                "zone": schedule.time_zone,
                "who": _person(found[0]),
                "until": found[run - 1].end.astimezone(zone) if following else None,
                "next": _person(following) if following else "",
            }
        )
    return lines


def handoff_content(notice: Notice) -> tuple[str, str, str]:
    """Your shift starts: from–to in the schedule's zone, and by which layer or override."""
    data = notice.data
    zone = ZoneInfo(data["time_zone"])
    context = {
        "notice": notice,
        "schedule": data["schedule"],
        "zone": data["time_zone"],
        "starts": datetime.fromisoformat(data["starts_at"]).astimezone(zone),
        "ends": datetime.fromisoformat(data["ends_at"]).astimezone(zone),
        "layer": data.get("layer", ""),
        "override": data.get("override"),
    }
    subject = render_to_string("escalation/email/handoff_subject.txt", context)
    text = render_to_string("escalation/email/handoff.txt", context)
    html = render_to_string("escalation/email/handoff.html", context)
    return subject, text, html
