"""Hand-off notices: the person whose on-call shift starts is told, once, HANDOFF_LEAD before,
through the outbox. Who holds each shift is `oncall.resolver.shifts`, the code that pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import notice_language
from notices.models import Delivery, Notice
from notices.services import notices_send_after_commit
from oncall import resolver
from oncall.models import Handoff, Schedule

# A person is told this long before their shift starts.
HANDOFF_LEAD = timedelta(minutes=30)
# How far ahead a shift's end is looked for, for the notice's "until".
HANDOFF_HORIZON = timedelta(days=31)


def _handoff_write(schedule: Schedule, shift: resolver.Shift, ends_at: datetime) -> bool:
    """One hand-off row and its notice, together; False when a sweep already wrote them."""
    user = shift.user
    try:
        with transaction.atomic():
            handoff = Handoff.objects.create(
                schedule=schedule, user=user, starts_at=shift.start, ends_at=ends_at
            )
    except IntegrityError:
        return False  # another sweep (or an earlier one) holds this shift start
    if not user.email:
        return True  # claimed, nobody to write to: never retried
    source = {"override": shift.override_id} if shift.override_id else {"layer": shift.layer}
    notice = Notice.objects.create(
        kind=Notice.Kind.HANDOFF,
        recipient=user.email,
        recipient_name=user.get_full_name() or user.get_username(),
        language=notice_language(user),
        delivery=Delivery.IMMEDIATE,
        data={
            "schedule": schedule.name,
            "time_zone": schedule.time_zone,
            "starts_at": shift.start.isoformat(),
            "ends_at": ends_at.isoformat(),
            **source,
        },
    )
    Handoff.objects.filter(pk=handoff.pk).update(notice=notice)
    notices_send_after_commit([notice])
    return True


def handoff_notices_queue(*, now: datetime | None = None) -> int:
    """Beat, every minute: tell each person whose shift starts within HANDOFF_LEAD, once.

    Shifts come from `resolver.shifts`, the code that pages. A shift already started gets no
    notice; a person who continues (the same person holds the shift before) gets none either.
    Each schedule is claimed (skip locked) and each shift start is unique, so concurrent sweeps
    write every notice once.
    """
    now = now or timezone.now()
    written = 0
    for pk in Schedule.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            schedule = Schedule.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if schedule is None:
                continue  # another sweep holds it
            window = resolver.shifts(schedule, now, now + HANDOFF_LEAD)
            for before, shift in zip(window, window[1:], strict=False):
                if shift.is_gap or shift.user_id == before.user_id or shift.start <= now:
                    continue
                ahead = resolver.shifts(
                    schedule, shift.start, shift.start + HANDOFF_HORIZON, users=False
                )
                ends_at = ahead[0].end
                for later in ahead[1:]:
                    if later.user_id != shift.user_id:
                        break
                    ends_at = later.end
                written += _handoff_write(schedule, shift, ends_at)
    return written
