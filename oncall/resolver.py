"""Who is on call: the one code that answers it.

`oncall_at` (one instant) and `shifts` (a period) read a schedule the same way, through
`_holder`; escalation, the admin, the API and the iCal feed call only these two, so that
what pages and what the roster shows never disagree.

Hand-offs and restrictions are wall-clock times in the schedule's zone: a daily 09:00
hand-off in America/New_York stays at 09:00 across daylight saving (a 23- or 25-hour shift);
an hours rotation counts real hours from its first hand-off. Overrides are instants.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model

from .models import Layer, Override, Schedule

# The longest period `shifts` answers: a feed or a table, never years of instants.
MAX_SPAN = timedelta(days=92)


@dataclass(frozen=True)
class OnCall:
    """Who holds the schedule at an instant, and why (a layer or an override)."""

    user_id: int | None
    layer: str = ""
    override_id: int | None = None

    @property
    def source(self) -> str:
        return "override" if self.override_id else ("layer" if self.layer else "gap")


@dataclass(frozen=True)
class Shift:
    start: datetime
    end: datetime
    user_id: int | None
    layer: str = ""
    override_id: int | None = None
    user: object | None = None

    @property
    def source(self) -> str:
        return "override" if self.override_id else ("layer" if self.layer else "gap")

    @property
    def is_gap(self) -> bool:
        return self.user_id is None


@dataclass
class _LayerData:
    name: str
    priority: int
    unit: str
    length: int
    start_date: date
    handoff: time
    weekdays: frozenset[int]
    restrict_from: time | None
    restrict_until: time | None
    member_ids: list[int]
    first_handoff: datetime  # aware, UTC

    def holder(self, when: datetime, local: datetime) -> int | None:
        if not self.member_ids or when < self.first_handoff or not self.active(local):
            return None
        return self.member_ids[self.index(when, local) % len(self.member_ids)]

    def index(self, when: datetime, local: datetime) -> int:
        if self.unit == Layer.Unit.HOURS:
            return int((when - self.first_handoff) // timedelta(hours=self.length))
        days = (local.date() - self.start_date).days - (local.time() < self.handoff)
        period = self.length * (7 if self.unit == Layer.Unit.WEEKS else 1)
        return days // period

    def active(self, local: datetime) -> bool:
        days, start, until = self.weekdays, self.restrict_from, self.restrict_until
        if start is None:
            return not days or local.weekday() in days
        now = local.time()
        if start < until:
            return start <= now < until and (not days or local.weekday() in days)
        # Overnight (18:00–09:00): the weekday is the one the night began on.
        if now >= start:
            return not days or local.weekday() in days
        if now < until:
            return not days or (local.weekday() - 1) % 7 in days
        return False

    def wall_times(self) -> list[time]:
        found = [self.handoff, time(0)] if self.unit != Layer.Unit.HOURS else [time(0)]
        if self.restrict_from is not None:
            found += [self.restrict_from, self.restrict_until]
        return found


@dataclass
class _Plan:
    zone: ZoneInfo
    layers: list[_LayerData]
    overrides: list[Override]

    def holder(self, when: datetime) -> OnCall:
        """The rule, in one place: the latest override covering `when`, else the highest
        priority layer with someone, else nobody (a gap)."""
        covering = [o for o in self.overrides if o.starts_at <= when < o.ends_at]
        if covering:
            chosen = max(covering, key=lambda o: (o.created_at or when, o.pk or 0))
            return OnCall(chosen.user_id, override_id=chosen.pk)
        local = when.astimezone(self.zone)
        for layer in self.layers:
            if (user_id := layer.holder(when, local)) is not None:
                return OnCall(user_id, layer=layer.name)
        return OnCall(None)

    def changes(self, start: datetime, end: datetime) -> list[datetime]:
        """Every instant in (start, end) at which the holder may change: hand-offs,
        restriction edges, local midnights, daylight-saving transitions, override edges."""
        points: set[datetime] = set()
        first = start.astimezone(self.zone).date() - timedelta(days=1)
        last = end.astimezone(self.zone).date() + timedelta(days=1)
        wall = {t for layer in self.layers for t in layer.wall_times()}
        day = first
        while day <= last:
            for moment in wall:
                naive = datetime.combine(day, moment)
                for fold in (0, 1):
                    points.add(naive.replace(tzinfo=self.zone, fold=fold).astimezone(UTC))
            day += timedelta(days=1)
        points.update(_transitions(self.zone, start, end))
        for layer in self.layers:
            points.add(layer.first_handoff)
            if layer.unit == Layer.Unit.HOURS:
                step = timedelta(hours=layer.length)
                k = max(0, int((start - layer.first_handoff) // step))
                moment = layer.first_handoff + k * step
                while moment < end:
                    points.add(moment)
                    moment += step
        for override in self.overrides:
            points.update((override.starts_at, override.ends_at))
        return sorted(p for p in points if start < p < end)


def _transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """The instants in [start, end] where the zone's UTC offset changes (to the second)."""
    found = []
    step = timedelta(hours=6)
    left = start
    while left < end:
        right = min(left + step, end)
        if left.astimezone(zone).utcoffset() != right.astimezone(zone).utcoffset():
            low, high = left, right
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
                    low = middle
                else:
                    high = middle
            found.append(high.replace(microsecond=0))
        left = right
    return found


def _plan(schedule: Schedule, start: datetime, end: datetime) -> _Plan:
    zone = schedule.zone
    layers = []
    for layer in schedule.layers.prefetch_related("members").order_by("-priority", "pk"):
        members = sorted(layer.members.all(), key=lambda m: (m.position, m.pk))
        first = datetime.combine(layer.start_date, layer.handoff_time).replace(tzinfo=zone)
        layers.append(
            _LayerData(
                name=layer.name,
                priority=layer.priority,
                unit=layer.shift_unit,
                length=layer.shift_length,
                start_date=layer.start_date,
                handoff=layer.handoff_time,
                weekdays=frozenset(layer.restrict_weekdays or []),
                restrict_from=layer.restrict_from,
                restrict_until=layer.restrict_until,
                member_ids=[m.user_id for m in members],
                first_handoff=first.astimezone(UTC),
            )
        )
    overrides = list(
        schedule.overrides.filter(starts_at__lte=end, ends_at__gt=start).order_by("starts_at")
    )
    return _Plan(zone=zone, layers=layers, overrides=overrides)


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")
    return value.astimezone(UTC)


def oncall_at(schedule: Schedule, when: datetime) -> OnCall:
    """Who is on call on `schedule` at the instant `when` (an aware datetime)."""
    when = _aware(when, "when")
    return _plan(schedule, when, when).holder(when)


def shifts(
    schedule: Schedule, start: datetime, end: datetime, *, users: bool = True
) -> list[Shift]:
    """The schedule from `start` to `end` as consecutive shifts (gaps included, `user_id`
    None), each the holder `oncall_at` gives for every instant inside it."""
    start, end = _aware(start, "start"), _aware(end, "end")
    if end <= start:
        return []
    if end - start > MAX_SPAN:
        raise ValueError("period too long")
    plan = _plan(schedule, start, end)
    edges = [start, *plan.changes(start, end), end]
    found: list[Shift] = []
    for left, right in zip(edges, edges[1:], strict=False):
        held = plan.holder(left)
        if found and (found[-1].user_id, found[-1].layer, found[-1].override_id) == (
            held.user_id,
            held.layer,
            held.override_id,
        ):
            previous = found.pop()
            found.append(Shift(previous.start, right, held.user_id, held.layer, held.override_id))
        else:
            found.append(Shift(left, right, held.user_id, held.layer, held.override_id))
    return _with_users(found) if users else found


def _with_users(found: Iterable[Shift]) -> list[Shift]:
    found = list(found)
    people = get_user_model().objects.in_bulk({s.user_id for s in found if s.user_id})
    return [
        Shift(s.start, s.end, s.user_id, s.layer, s.override_id, people.get(s.user_id))
        for s in found
    ]


def gaps(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The periods nobody is on call: reported ahead of time (admin, `check_escalation`)."""
    return [shift for shift in shifts(schedule, start, end, users=False) if shift.is_gap]
