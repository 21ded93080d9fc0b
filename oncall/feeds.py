"""The iCal feed of a schedule: its shifts from `oncall.resolver.shifts`, as calendar apps
read them (RFC 5545, by the `icalendar` library)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext as _
from icalendar import Calendar, Event

from .models import FeedToken
from .resolver import shifts

# What a calendar shows: the last week and the next eight.
BEHIND = timedelta(days=7)
AHEAD = timedelta(days=56)


def feed_calendar(feed: FeedToken, *, now: datetime | None = None) -> bytes:
    """The feed's calendar: one event per shift (per shift of `feed.person`, if set)."""
    now = now or timezone.now()
    schedule = feed.schedule
    calendar = Calendar()
    calendar.add("prodid", "-//Hikeshi//on call//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{schedule.name} ({_('on call')})")
    calendar.add("x-wr-timezone", schedule.time_zone)
    start = now.replace(minute=0, second=0, microsecond=0) - BEHIND
    found = shifts(schedule, start, start + BEHIND + AHEAD)
    people = get_user_model().objects.in_bulk({s.user_id for s in found if s.user_id})
    for shift in found:
        if shift.is_gap:
            if feed.person_id:
                continue
            summary = _("Nobody on call")
        elif feed.person_id and shift.user_id != feed.person_id:
            continue
        else:
            user = people.get(shift.user_id)
            summary = (user.get_full_name() or user.get_username()) if user else "?"
        event = Event()
        event.add("uid", f"oncall-{schedule.pk}-{int(shift.start.timestamp())}@hikeshi")
        event.add("dtstamp", now)
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        event.add("summary", summary)
        event.add("description", shift.layer or _("Override"))
        calendar.add_component(event)
    return calendar.to_ical()
