"""Celery tasks: thin callers of the services."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from pulses.services import pulse_record

from . import services


@shared_task(name="integrations.deliveries_sweep")
def deliveries_sweep_task() -> int:
    """Beat, every ALERT_SWEEP_SECONDS: alerts accepted while the processor is down still
    open their incidents, at most ALERT_SWEEP_AFTER_SECONDS plus one interval late."""
    pulse_record("alerts:sweep", force=True)
    return services.deliveries_sweep(waited=timedelta(seconds=settings.ALERT_SWEEP_AFTER_SECONDS))
