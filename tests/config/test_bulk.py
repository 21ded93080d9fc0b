"""bulk_insert: the sweep's set-based insert gives the same rows as bulk_create would."""

import datetime as dt

import pytest

from config.bulk import bulk_insert
from incidents.models import TimelineEvent
from notices.models import Notice
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def test_rows_get_their_own_primary_keys_in_order_with_json_nulls_and_auto_dates():
    incidents = IncidentFactory.create_batch(3)
    at = dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.UTC)
    events = [
        TimelineEvent(
            incident=incident,
            kind=TimelineEvent.Kind.NOTE,
            at=at + dt.timedelta(seconds=n),
            message=f"メモ {n} 'quoted' \"and\" {{braces}}, commas",
            data={"n": n, "nested": {"list": [n, None]}},
        )
        for n, incident in enumerate(incidents)
    ]

    inserted = bulk_insert(events)

    assert inserted == events
    for n, event in enumerate(events):
        stored = TimelineEvent.objects.get(pk=event.pk)
        assert stored.incident_id == incidents[n].pk
        assert stored.actor_id is None
        assert stored.at == at + dt.timedelta(seconds=n)
        assert stored.message == f"メモ {n} 'quoted' \"and\" {{braces}}, commas"
        assert stored.data == {"n": n, "nested": {"list": [n, None]}}

    notices = bulk_insert([Notice(recipient="a@x.test", delivery="immediate")])
    assert Notice.objects.get(pk=notices[0].pk).created_at is not None


def test_nothing_to_insert_is_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert bulk_insert([]) == []
