"""On-call test helpers: schedules built as a manager would, and instants written as the
wall-clock times of a zone, so each fixture reads as the hand-worked roster it is."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from oncall.models import Layer, LayerMember, Schedule

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


def at(text: str, zone: ZoneInfo = TOKYO, fold: int = 0) -> datetime:
    """'2026-03-02 09:00' in `zone` as an aware instant."""
    return datetime.fromisoformat(text).replace(tzinfo=zone, fold=fold)


def add_layer(schedule: Schedule, people, **fields) -> Layer:
    fields = {
        "name": "primary",
        "priority": 1,
        "shift_length": 1,
        "shift_unit": Layer.Unit.WEEKS,
        "start_date": date(2026, 3, 2),  # a Monday
        "handoff_time": time(9, 0),
    } | fields
    layer = Layer.objects.create(schedule=schedule, **fields)
    for position, person in enumerate(people):
        LayerMember.objects.create(layer=layer, user=person, position=position)
    return layer


@pytest.fixture
def people(make_user):
    """Four responders: 佐藤 (a), 鈴木 (b), 高橋 (c), 田中 (d)."""
    names = [("sato", "佐藤"), ("suzuki", "鈴木"), ("takahashi", "高橋"), ("tanaka", "田中")]
    return [
        make_user("operations", username=username, last_name=last, email=f"{username}@x.test")
        for username, last in names
    ]


@pytest.fixture
def schedule(db):
    return Schedule.objects.create(name="ops-primary")
