"""The iCal feed: a calendar app's parser reads it, its events are the resolver's shifts, and
a revoked (or unknown) token is a 404."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from config.base import SYSTEM
from oncall.feeds import AHEAD, BEHIND, feed_calendar
from oncall.models import FeedToken, Layer, Schedule
from oncall.resolver import shifts
from oncall.services import feed_token_create, feed_token_revoke, override_create

from .conftest import add_layer


@pytest.fixture
def rota(schedule, people):
    add_layer(schedule, people[:2], shift_unit=Layer.Unit.DAYS, start_date=date(2026, 1, 1))
    now = timezone.now().replace(second=0, microsecond=0)  # iCal times are to the second
    override_create(
        schedule=schedule,
        user=people[3],
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=1, hours=5),
        actor=SYSTEM,
    )
    return schedule


def feed_url(token: str) -> str:
    return reverse("oncall-feed", args=[token])


def events(response) -> list[tuple[datetime, datetime, str]]:
    calendar = Calendar.from_ical(response.content)
    return [
        (e.decoded("dtstart"), e.decoded("dtend"), str(e["summary"]))
        for e in calendar.walk("VEVENT")
    ]


def test_the_feed_parses_and_its_events_are_the_shifts(client, rota, people):
    _feed, token = feed_token_create(schedule=rota, actor=SYSTEM, label="佐藤の携帯")
    response = client.get(feed_url(token))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    assert str(calendar["version"]) == "2.0"
    found = events(response)
    start = min(s for s, _e, _w in found)
    expected = shifts(rota, start, start + BEHIND + AHEAD)
    names = {p.pk: p.last_name for p in people}
    assert found == [(s.start, s.end, names[s.user_id]) for s in expected]
    assert len({e["uid"] for e in calendar.walk("VEVENT")}) == len(found)
    assert "田中" in {summary for _s, _e, summary in found}


def test_a_personal_feed_has_only_that_persons_shifts(client, rota, people):
    _feed, token = feed_token_create(schedule=rota, actor=SYSTEM, person=people[3])
    found = events(client.get(feed_url(token)))
    assert [summary for _s, _e, summary in found] == ["田中"]


def test_the_token_is_stored_hashed_and_a_revoked_or_unknown_one_is_a_404(client, rota):
    feed, token = feed_token_create(schedule=rota, actor=SYSTEM)
    assert token not in FeedToken.objects.filter(pk=feed.pk).values_list("digest", flat=True)[0]
    assert client.get(feed_url(token)).status_code == 200

    feed_token_revoke(feed=feed, actor=SYSTEM)

    assert client.get(feed_url(token)).status_code == 404
    assert client.get(feed_url("not-a-token")).status_code == 404


def test_only_managers_create_and_revoke_feed_links(make_user, rota):
    with pytest.raises(PermissionDenied):
        feed_token_create(schedule=rota, actor=make_user("operations"))
    feed, _token = feed_token_create(schedule=rota, actor=make_user("managers"))
    with pytest.raises(PermissionDenied):
        feed_token_revoke(feed=feed, actor=make_user("sysadmins"))
    assert FeedToken.objects.get(pk=feed.pk).revoked_at is None


def test_a_persons_own_feed_holds_exactly_their_shifts_on_every_schedule(client, rota, people):
    nights = Schedule.objects.create(name="db-nights")
    add_layer(
        nights, [people[1], people[3]], shift_unit=Layer.Unit.DAYS, start_date=date(2026, 1, 1)
    )
    Schedule.objects.create(name="empty")
    feed, token = feed_token_create(schedule=None, person=people[3], actor=SYSTEM)
    assert client.get(feed_url(token)).status_code == 200
    now = timezone.now().replace(minute=0, second=0, microsecond=0)

    calendar = Calendar.from_ical(feed_calendar(feed, now=now))

    found = sorted(
        (e.decoded("dtstart"), e.decoded("dtend"), str(e["summary"]).split(" (")[0])
        for e in calendar.walk("VEVENT")
    )
    expected = sorted(
        (s.start, s.end, schedule.name)
        for schedule in (rota, nights)
        for s in shifts(schedule, now - BEHIND, now + AHEAD)
        if s.user_id == people[3].pk
    )
    assert found == expected
    assert {name for _s, _e, name in found} == {"ops-primary", "db-nights"}


def test_a_revoked_person_feed_is_a_json_404(client, rota, people):
    feed, token = feed_token_create(schedule=None, person=people[0], actor=SYSTEM)
    assert client.get(feed_url(token)).status_code == 200
    feed_token_revoke(feed=feed, actor=SYSTEM)
    response = client.get(feed_url(token))
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_a_feed_names_a_schedule_or_a_person(rota):
    with pytest.raises(ValidationError):
        feed_token_create(schedule=None, actor=SYSTEM)
    with pytest.raises(IntegrityError), transaction.atomic():
        FeedToken.objects.create(digest="x" * 64)
