"""Celery tasks for alerts: thin callers of the services."""

from celery import shared_task

from .services import held_alerts_release


@shared_task(name="alerts.release_held")
def held_alerts_release_task() -> int:
    """Beat, every MAINTENANCE_SWEEP_SECONDS (and at once when a window is closed early):
    the alerts of ended maintenance windows open their incidents."""
    released = total = held_alerts_release()
    while released:  # a storm held more than one batch: keep going until none is left
        released = held_alerts_release()
        total += released
    return total
