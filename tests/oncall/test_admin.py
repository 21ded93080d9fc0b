"""Schedules in the admin: the next 14 days as a table with gaps highlighted, overrides added
inline or by a form through the service (audited), schedules edited by managers only."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from auditlog.models import LogEntry
from django.utils import timezone

from config.base import JST
from oncall.models import FeedToken, Layer, Override, token_digest

from .conftest import add_layer

SCHEDULES = "/admin/oncall/schedule/"
OVERRIDES = "/admin/oncall/override/"


@pytest.fixture
def office_hours(schedule, people):
    add_layer(
        schedule,
        people[:2],
        shift_unit=Layer.Unit.DAYS,
        start_date=timezone.localdate() - timedelta(days=3),
        restrict_from=time(9),
        restrict_until=time(18),
    )
    return schedule


def login(client, user):
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return user


def local(value):
    value = timezone.localtime(value, JST)
    return value.strftime("%Y-%m-%d"), value.strftime("%H:%M:%S")


def test_the_schedule_page_shows_the_next_14_days_with_gaps_highlighted(
    client, make_user, office_hours
):
    login(client, make_user("operations"))
    page = client.get(f"{SCHEDULES}{office_hours.pk}/change/").content.decode()
    assert "Next 14 days" in page
    assert "佐藤" in page and "鈴木" in page
    assert "nobody on call" in page
    assert "background:#fde2e2" in page
    listing = client.get(SCHEDULES).content.decode()
    assert "Gaps in 14 days" in listing


def test_a_responder_adds_an_override_by_the_form_and_it_is_audited(
    client, make_user, office_hours, people
):
    user = login(client, make_user("operations"))
    start = timezone.now() + timedelta(hours=1)
    (sd, st), (ed, et) = local(start), local(start + timedelta(hours=3))
    form = {
        "schedule": office_hours.pk,
        "user": people[3].pk,
        "starts_at_0": sd,
        "starts_at_1": st,
        "ends_at_0": ed,
        "ends_at_1": et,
        "reason": "交代",
    }
    response = client.post(f"{OVERRIDES}add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    override = Override.objects.get()
    assert (override.user, override.created_by) == (people[3], user)
    assert LogEntry.objects.get_for_object(override).get().actor == user


def test_a_backwards_override_is_refused_by_field_and_nothing_written(
    client, make_user, office_hours, people
):
    login(client, make_user("operations"))
    start = timezone.now() + timedelta(hours=3)
    (sd, st), (ed, et) = local(start), local(start - timedelta(hours=1))
    form = {
        "schedule": office_hours.pk,
        "user": people[3].pk,
        "starts_at_0": sd,
        "starts_at_1": st,
        "ends_at_0": ed,
        "ends_at_1": et,
    }
    response = client.post(f"{OVERRIDES}add/", form)
    assert response.status_code == 200
    assert "must end after it starts" in response.content.decode()
    assert not Override.objects.exists()


def test_responders_may_not_edit_a_schedule_managers_may(client, make_user, office_hours):
    login(client, make_user("operations"))
    form = {"name": "renamed", "description": "", "time_zone": "Asia/Tokyo"}
    assert client.post(f"{SCHEDULES}{office_hours.pk}/change/", form).status_code == 403
    office_hours.refresh_from_db()
    assert office_hours.name == "ops-primary"


def test_a_manager_creates_a_calendar_link_shown_once(client, make_user, office_hours):
    login(client, make_user("managers"))
    response = client.post(
        SCHEDULES, {"action": "create_feed", "_selected_action": [office_hours.pk]}, follow=True
    )
    text = response.content.decode()
    assert "/oncall/feeds/" in text
    token = text.split("/oncall/feeds/")[1].split(".ics")[0]
    assert client.get(f"/oncall/feeds/{token}.ics").status_code == 200
    assert office_hours.feed_tokens.get().digest != token


def test_a_manager_adds_a_persons_own_calendar_link_shown_once(client, make_user, office_hours):
    person = office_hours.layers.get().members.first().user
    login(client, make_user("managers"))
    response = client.post(
        "/admin/oncall/feedtoken/add/", {"person": person.pk, "label": "my on-call"}, follow=True
    )
    text = response.content.decode()
    token = text.split("/oncall/feeds/")[1].split(".ics")[0]
    feed = FeedToken.objects.get()
    assert feed.schedule is None and feed.person == person
    assert feed.digest == token_digest(token) and token not in feed.digest
    assert client.get(f"/oncall/feeds/{token}.ics").status_code == 200
    assert token not in client.get(f"/admin/oncall/feedtoken/{feed.pk}/change/").content.decode()
