"""Celery tasks: thin callers of the services. The database holds every timer and message,
so a task that is lost, delivered twice or runs late changes nothing but latency."""

import contextlib
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from config.base import database_now
from pulses.services import pulse_record

from .services import digests, handoffs, timers


@shared_task(name="escalation.escalate_due")
def escalate_due_task(helper: bool = False, wake: bool = False) -> int:
    """Beat, every ESCALATION_SWEEP_SECONDS: the timers' guarantee.

    When a full batch was due, one helper sweep is queued so that another worker process
    claims other rows (SKIP LOCKED) in parallel. The beat's sweep also sets a wake-up sweep at
    each deadline before the next beat, so a level fires on time rather than up to one
    interval late, including those too far ahead for an ETA task of their own.
    """
    pulse_record("sweeper", force=True)  # /api/health: the timers' guarantee is alive
    claimed = timers.escalate_due(max_batches=1)
    if claimed >= settings.ESCALATION_SWEEP_BATCH:
        if not helper:
            with contextlib.suppress(Exception):  # no broker: this sweep does it alone
                escalate_due_task.delay(helper=True)
        claimed += timers.escalate_due()
    if not (helper or wake):
        # A countdown, not an ETA: the wake-up keeps to the database's clock even on a worker
        # whose own clock runs ahead or behind.
        now = database_now()
        with contextlib.suppress(Exception):  # no broker: the next beat sweeps them
            for deadline in timers.deadlines_ahead(
                within=timedelta(seconds=settings.ESCALATION_SWEEP_SECONDS), now=now
            ):
                countdown = (deadline - now).total_seconds()
                escalate_due_task.apply_async(kwargs={"wake": True}, countdown=countdown)
    return claimed


@shared_task(name="escalation.fire_due")
def escalation_fire_due_task(incident_id: int) -> int:
    """ETA task after commit: fires a level sooner than the next sweep would."""
    return timers.escalation_fire_due(incident_id=incident_id)


@shared_task(name="escalation.digests_hourly")
def digests_hourly_task() -> int:
    return len(digests.digests_build())


@shared_task(name="escalation.report_daily")
def report_daily_task() -> int:
    return len(digests.report_daily_build())


@shared_task(name="oncall.handoffs")
def handoff_notices_task() -> int:
    """Beat, every ONCALL_HANDOFF_SWEEP_SECONDS: the hand-off notices now due. Each shift start
    is a unique row, so a late, lost or doubled beat delays a notice and never repeats it."""
    return handoffs.handoff_notices_queue()
