"""The iCal feeds: a schedule's shifts, or a person's shifts on every schedule, from
`oncall.resolver.shifts`, as calendar apps read them (RFC 5545, by the `icalendar` library)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from icalendar import Calendar, Event

from .models import FeedToken, Schedule
from .resolver import Shift, shifts

# What a calendar shows: the last week and the next eight.
BEHIND = timedelta(days=7)
AHEAD = timedelta(days=56)


def _event(schedule: Schedule, shift: Shift, summary: str, now: datetime) -> Event:
    event = Event()
    event.add("uid", f"oncall-{schedule.pk}-{int(shift.start.timestamp())}@hikeshi")
    event.add("dtstamp", now)
    event.add("dtstart", shift.start)
    event.add("dtend", shift.end)
    event.add("summary", summary)
    event.add("description", shift.layer or _("Override"))
    return event


def _calendar(name: str, zone: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", "-//Hikeshi//on call//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{name} ({_('on call')})")
    calendar.add("x-wr-timezone", zone)
    return calendar


def feed_calendar(feed: FeedToken, *, now: datetime | None = None) -> bytes:
    """The feed's calendar: one event per shift (per shift of `feed.person`, if set)."""
    now = now or timezone.now()
    start = now.replace(minute=0, second=0, microsecond=0) - BEHIND
    end = start + BEHIND + AHEAD
    if feed.schedule_id is None:
        return person_calendar(feed.person, start, end, now)
    schedule = feed.schedule
    calendar = _calendar(schedule.name, schedule.time_zone)
    found = shifts(schedule, start, end)
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
        calendar.add_component(_event(schedule, shift, summary, now))
    return calendar.to_ical()


def person_calendar(person, start: datetime, end: datetime, now: datetime) -> bytes:
    """A person's own calendar: their shifts on every schedule they rotate on or have an
    override in, each event named after its schedule."""
    name = person.get_full_name() or person.get_username()
    calendar = _calendar(name, "Asia/Tokyo")
    schedules = (
        Schedule.objects.filter(
            Q(layers__members__user=person)
            | Q(overrides__user=person, overrides__ends_at__gt=start, overrides__starts_at__lt=end)
        )
        .distinct()
        .order_by("name")
    )
    for schedule in schedules:
        for shift in shifts(schedule, start, end, users=False):
            if shift.user_id == person.pk:
                summary = f"{schedule.name} ({_('on call')})"
                calendar.add_component(_event(schedule, shift, summary, now))
    return calendar.to_ical()
