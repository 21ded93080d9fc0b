"""Celery tasks: thin; the beat schedule lives in django-celery-beat (editable in the admin)."""

from celery import shared_task

from . import services


@shared_task(name="checklists.maintenance_run_create")
def maintenance_run_create_task(key: str) -> int | None:
    """Beat, at the start of each period: the period's run of template `key`."""
    run = services.maintenance_run_current(key=key)
    return run.pk if run else None


@shared_task(name="checklists.runs_mark_overdue")
def runs_mark_overdue_task() -> int:
    return len(services.checklist_runs_mark_overdue())
