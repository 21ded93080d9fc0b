"""Who is on call, against rosters worked out by hand: layers, restrictions, overrides,
swaps, gaps and daylight saving. `shifts` must agree with `oncall_at` at every instant."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from config.base import SYSTEM
from oncall.models import Layer, Schedule
from oncall.resolver import gaps, oncall_at, shifts
from oncall.services import override_create, swap_create

from .conftest import NEW_YORK, add_layer, at

WEEKDAYS = [0, 1, 2, 3, 4]


def who(schedule, when):
    return oncall_at(schedule, when).user_id


def test_a_weekly_rotation_restricted_to_office_hours_on_top_of_a_round_the_clock_layer(
    schedule, people
):
    sato, suzuki, takahashi, _tanaka = people
    add_layer(
        schedule,
        [sato, suzuki],
        name="office",
        priority=2,
        restrict_weekdays=WEEKDAYS,
        restrict_from=time(9),
        restrict_until=time(18),
    )
    add_layer(schedule, [takahashi], name="24h", priority=1)

    # Week 1 (from Monday 2 March 09:00): 佐藤 in office hours, 高橋 otherwise.
    assert who(schedule, at("2026-03-02 09:00")) == sato.pk
    assert oncall_at(schedule, at("2026-03-02 17:59")).layer == "office"
    assert who(schedule, at("2026-03-02 18:00")) == takahashi.pk
    assert oncall_at(schedule, at("2026-03-02 18:00")).layer == "24h"
    assert who(schedule, at("2026-03-06 12:00")) == sato.pk  # Friday
    assert who(schedule, at("2026-03-07 12:00")) == takahashi.pk  # Saturday
    # Week 2: the office layer hands off to 鈴木 on Monday 9 March at 09:00.
    assert who(schedule, at("2026-03-09 08:59")) == takahashi.pk
    assert who(schedule, at("2026-03-09 09:00")) == suzuki.pk
    # Week 3: back to 佐藤.
    assert who(schedule, at("2026-03-16 10:00")) == sato.pk
    # Before the layers' first hand-off nobody is on call.
    assert who(schedule, at("2026-03-02 08:59")) is None


def test_a_night_restriction_spans_midnight_by_the_day_it_began(schedule, people):
    sato = people[0]
    # Weeknights from 18:00 until 09:00: Friday's night runs into Saturday morning.
    add_layer(
        schedule,
        [sato],
        name="nights",
        shift_unit=Layer.Unit.DAYS,
        restrict_weekdays=WEEKDAYS,
        restrict_from=time(18),
        restrict_until=time(9),
    )
    assert who(schedule, at("2026-03-06 23:00")) == sato.pk  # Friday night
    assert who(schedule, at("2026-03-07 08:59")) == sato.pk  # Saturday morning, Friday's night
    assert who(schedule, at("2026-03-07 23:00")) is None  # Saturday night
    assert who(schedule, at("2026-03-09 08:00")) is None  # Monday morning: Sunday's night
    assert who(schedule, at("2026-03-09 12:00")) is None  # office hours


def test_an_override_across_a_hand_off_takes_the_period_from_both_holders(schedule, people):
    sato, suzuki, _takahashi, tanaka = people
    add_layer(schedule, [sato, suzuki])
    override = override_create(
        schedule=schedule,
        user=tanaka,
        starts_at=at("2026-03-09 06:00"),
        ends_at=at("2026-03-09 12:00"),
        reason="通院の交代",
        actor=SYSTEM,
    )

    assert who(schedule, at("2026-03-09 05:59")) == sato.pk
    assert oncall_at(schedule, at("2026-03-09 06:00")).override_id == override.pk
    assert who(schedule, at("2026-03-09 09:00")) == tanaka.pk  # the hand-off, inside it
    assert who(schedule, at("2026-03-09 12:00")) == suzuki.pk

    found = [
        (s.start, s.end, s.user_id, s.source)
        for s in shifts(schedule, at("2026-03-09 00:00"), at("2026-03-09 18:00"))
    ]
    assert found == [
        (at("2026-03-09 00:00"), at("2026-03-09 06:00"), sato.pk, "layer"),
        (at("2026-03-09 06:00"), at("2026-03-09 12:00"), tanaka.pk, "override"),
        (at("2026-03-09 12:00"), at("2026-03-09 18:00"), suzuki.pk, "layer"),
    ]


def test_a_swap_trades_two_shifts_and_leaves_the_others(schedule, people):
    sato, suzuki, takahashi, _tanaka = people
    add_layer(schedule, [sato, suzuki, takahashi], shift_unit=Layer.Unit.DAYS)
    # By the roster: 2 Mar 佐藤, 3 Mar 鈴木, 4 Mar 高橋, 5 Mar 佐藤 (09:00 to 09:00).
    first, second = swap_create(
        schedule=schedule,
        first=(sato, at("2026-03-02 09:00"), at("2026-03-03 09:00")),
        second=(takahashi, at("2026-03-04 09:00"), at("2026-03-05 09:00")),
        actor=SYSTEM,
    )

    assert first.swap == second.swap is not None
    assert who(schedule, at("2026-03-02 12:00")) == takahashi.pk
    assert who(schedule, at("2026-03-03 12:00")) == suzuki.pk
    assert who(schedule, at("2026-03-04 12:00")) == sato.pk
    assert who(schedule, at("2026-03-05 12:00")) == sato.pk


def test_a_layer_gap_is_reported_with_its_exact_period(schedule, people):
    add_layer(
        schedule,
        [people[0]],
        shift_unit=Layer.Unit.DAYS,
        restrict_from=time(9),
        restrict_until=time(18),
    )
    found = [
        (g.start, g.end) for g in gaps(schedule, at("2026-03-03 00:00"), at("2026-03-04 00:00"))
    ]
    assert found == [
        (at("2026-03-03 00:00"), at("2026-03-03 09:00")),
        (at("2026-03-03 18:00"), at("2026-03-04 00:00")),
    ]


def test_a_daily_hand_off_keeps_its_wall_clock_time_across_daylight_saving(people):
    sato, suzuki, *_ = people
    schedule = Schedule.objects.create(name="us-east", time_zone="America/New_York")
    add_layer(schedule, [sato, suzuki], shift_unit=Layer.Unit.DAYS, start_date=date(2026, 3, 6))
    # 6 Mar 佐藤, 7 Mar 鈴木, 8 Mar 佐藤. Clocks go forward at 02:00 on 8 March: 鈴木's shift
    # runs from 09:00 EST (14:00 UTC) to 09:00 EDT (13:00 UTC), 23 hours.
    start = datetime(2026, 3, 7, 14, tzinfo=UTC)
    end = datetime(2026, 3, 8, 13, tzinfo=UTC)
    assert who(schedule, start - timedelta(seconds=1)) == sato.pk
    assert who(schedule, start) == suzuki.pk
    assert who(schedule, end - timedelta(seconds=1)) == suzuki.pk
    assert who(schedule, end) == sato.pk
    (shift,) = [
        s for s in shifts(schedule, start, end + timedelta(hours=1)) if s.user_id == suzuki.pk
    ]
    assert (shift.start, shift.end, shift.end - shift.start) == (start, end, timedelta(hours=23))

    # Clocks go back at 02:00 on 1 November: the shift from 31 Oct 09:00 EDT is 25 hours.
    autumn = shifts(schedule, at("2026-10-31 08:00", NEW_YORK), at("2026-11-01 10:00", NEW_YORK))
    assert [s.end - s.start for s in autumn][1] == timedelta(hours=25)


def test_a_hand_off_in_the_hour_that_does_not_exist_happens_when_the_clocks_jump(people):
    sato, suzuki, *_ = people
    schedule = Schedule.objects.create(name="us-east-night", time_zone="America/New_York")
    add_layer(
        schedule,
        [sato, suzuki],
        shift_unit=Layer.Unit.DAYS,
        start_date=date(2026, 3, 7),
        handoff_time=time(2, 30),
    )
    # On 8 March 01:59:59 EST is followed by 03:00 EDT (07:00 UTC): 02:30 never comes, and
    # the hand-off to 鈴木 happens at the jump.
    jump = datetime(2026, 3, 8, 7, tzinfo=UTC)
    assert who(schedule, jump - timedelta(seconds=1)) == sato.pk
    assert who(schedule, jump) == suzuki.pk
    edges = [
        s.start for s in shifts(schedule, jump - timedelta(hours=2), jump + timedelta(hours=2))
    ]
    assert jump in edges


def test_an_hours_rotation_counts_real_hours_across_daylight_saving(people):
    sato, suzuki, *_ = people
    schedule = Schedule.objects.create(name="us-east-12h", time_zone="America/New_York")
    add_layer(
        schedule,
        [sato, suzuki],
        shift_unit=Layer.Unit.HOURS,
        shift_length=12,
        start_date=date(2026, 10, 31),
        handoff_time=time(8),  # 12:00 UTC
    )
    first = datetime(2026, 10, 31, 12, tzinfo=UTC)
    for k in range(6):
        assert who(schedule, first + k * timedelta(hours=12)) == [sato, suzuki][k % 2].pk


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Tokyo"])
def test_shifts_agree_with_oncall_at_at_every_sampled_instant(people, zone):
    sato, suzuki, takahashi, tanaka = people
    schedule = Schedule.objects.create(name=f"busy {zone}", time_zone=zone)
    add_layer(
        schedule,
        [sato, suzuki],
        name="office",
        priority=3,
        shift_unit=Layer.Unit.DAYS,
        start_date=date(2026, 10, 26),
        restrict_weekdays=WEEKDAYS,
        restrict_from=time(9),
        restrict_until=time(18),
    )
    add_layer(
        schedule,
        [takahashi, tanaka],
        name="nights",
        priority=2,
        shift_unit=Layer.Unit.WEEKS,
        start_date=date(2026, 10, 28),
        handoff_time=time(1, 30),
        restrict_from=time(18),
        restrict_until=time(2),
    )
    add_layer(
        schedule,
        [sato, tanaka, suzuki],
        name="follow the sun",
        priority=1,
        shift_unit=Layer.Unit.HOURS,
        shift_length=7,
        start_date=date(2026, 10, 29),
        handoff_time=time(3, 15),
    )
    start = datetime(2026, 10, 27, 0, tzinfo=UTC)
    end = start + timedelta(days=8)  # across New York's 1 November
    override_create(
        schedule=schedule,
        user=takahashi,
        starts_at=start + timedelta(days=2, hours=5),
        ends_at=start + timedelta(days=3, hours=1),
        actor=SYSTEM,
    )
    override_create(
        schedule=schedule,
        user=sato,
        starts_at=start + timedelta(days=2, hours=20),
        ends_at=start + timedelta(days=2, hours=22),
        actor=SYSTEM,
    )

    found = shifts(schedule, start, end)

    assert found[0].start == start and found[-1].end == end
    assert all(a.end == b.start for a, b in zip(found, found[1:], strict=False))
    assert all(
        (a.user_id, a.layer, a.override_id) != (b.user_id, b.layer, b.override_id)
        for a, b in zip(found, found[1:], strict=False)
    )
    samples = [
        start + k * timedelta(minutes=47) for k in range(int((end - start) / timedelta(minutes=47)))
    ]
    samples += [s.start for s in found] + [s.end - timedelta(seconds=1) for s in found]
    for instant in samples:
        (shift,) = [s for s in found if s.start <= instant < s.end]
        held = oncall_at(schedule, instant)
        assert (held.user_id, held.layer, held.override_id) == (
            shift.user_id,
            shift.layer,
            shift.override_id,
        ), instant
