"""Read-only queries several callers share (the board, the checklists' item status)."""

from __future__ import annotations

from datetime import datetime

from django.utils import formats
from django.utils.translation import gettext as _

from config.base import JST

from .models import STATUS_LABELS, Heartbeat


def _jst(at: datetime | None) -> str:
    return formats.date_format(at.astimezone(JST), "Y-m-d H:i") + " JST" if at else "—"


def heartbeats_rows(*, now: datetime) -> list[dict]:
    """The board's heartbeats: one query, every word worked out."""
    rows = []
    for heartbeat in Heartbeat.objects.select_related("incident").order_by("name"):
        status = heartbeat.get_status(now)
        incident = heartbeat.incident
        rows.append(
            {
                "name": heartbeat.name,
                "status": status,
                "status_label": str(STATUS_LABELS[status]),
                "schedule": heartbeat.schedule_text(),
                "last_ping": _jst(heartbeat.last_ping_at),
                "last_ping_kind": heartbeat.get_last_ping_kind_display(),
                "deadline": _jst(heartbeat.deadline) if heartbeat.enabled else "—",
                "incident": incident.key if incident is not None and incident.is_active else "",
            }
        )
    return rows


def heartbeat_line(heartbeat: Heartbeat, *, now: datetime) -> str:
    """One line for a person: status and last ping, in Japan time."""
    status = heartbeat.get_status(now)
    if heartbeat.last_ping_at is None:
        return _("Heartbeat %(name)s: %(status)s, no ping yet") % {
            "name": heartbeat.name,
            "status": STATUS_LABELS[status],
        }
    return _("Heartbeat %(name)s: %(status)s, last ping %(at)s (%(kind)s)") % {
        "name": heartbeat.name,
        "status": STATUS_LABELS[status],
        "at": _jst(heartbeat.last_ping_at),
        "kind": heartbeat.get_last_ping_kind_display(),
    }


def checklist_item_statuses(*, now: datetime) -> dict[int, str]:
    """Template item id → the line of each heartbeat linked to it; one query (a handful)."""
    lines: dict[int, list[str]] = {}
    for heartbeat in Heartbeat.objects.filter(checklist_item__isnull=False).order_by("name"):
        lines.setdefault(heartbeat.checklist_item_id, []).append(heartbeat_line(heartbeat, now=now))
    return {item: " / ".join(found) for item, found in lines.items()}
