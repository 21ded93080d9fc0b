"""Celery tasks: thin callers of the services. The deadlines are in the database, so a lost or
late sweep delays a miss by at most one interval and never loses it."""

from celery import shared_task

from pulses.services import pulse_record

from . import services


@shared_task(name="heartbeats.sweep")
def heartbeats_sweep_task() -> int:
    """Beat, every HEARTBEAT_SWEEP_SECONDS: every heartbeat silent past its deadline."""
    pulse_record("heartbeats:sweep", force=True)
    return services.heartbeats_sweep()
