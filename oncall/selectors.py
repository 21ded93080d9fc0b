"""What the doors read about schedules: the roster table, the gaps ahead. All of it comes from
`oncall.resolver.shifts`, the code escalation pages by."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from config.base import JST

from .models import Schedule
from .resolver import Shift, gaps, shifts

AHEAD = timedelta(days=14)


def shift_row(shift: Shift) -> dict[str, Any]:
    """One shift as the admin table and the API show it."""
    user = shift.user
    return {
        "user": user.get_username() if user else None,
        "name": (user.get_full_name() or user.get_username()) if user else None,
        "start": shift.start,
        "end": shift.end,
        "source": shift.source,
        "layer": shift.layer,
        "override": shift.override_id,
    }


def roster(schedule: Schedule, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """The next 14 days, shift by shift, gaps included."""
    now = now or timezone.now()
    return [shift_row(shift) for shift in shifts(schedule, now, now + AHEAD)]


def gap_warnings(*, now: datetime | None = None) -> list[str]:
    """Each period of the next 14 days in which a schedule has nobody on call."""
    now = now or timezone.now()
    warnings = []
    for schedule in Schedule.objects.order_by("name"):
        for gap in gaps(schedule, now, now + AHEAD):
            warnings.append(
                _("Schedule %(schedule)s: nobody on call from %(start)s to %(end)s (JST).")
                % {
                    "schedule": schedule.name,
                    "start": f"{gap.start.astimezone(JST):%Y-%m-%d %H:%M}",
                    "end": f"{gap.end.astimezone(JST):%Y-%m-%d %H:%M}",
                }
            )
    return warnings
