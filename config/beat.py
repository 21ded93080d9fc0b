"""Beat entries kept in the database (django-celery-beat), so managers can edit them."""

import json

from django_celery_beat.models import CrontabSchedule, PeriodicTask

BEAT_TIMEZONE = "Asia/Tokyo"


def beat_task_ensure(
    *, name: str, task: str, cron: tuple[str, str, str, str], kwargs: dict | None = None
) -> tuple[PeriodicTask, bool]:
    """Create the entry if missing; an existing one (maybe edited) is left alone.

    `cron` is (minute, hour, day_of_week, day_of_month), in Japan time.
    """
    existing = PeriodicTask.objects.filter(name=name).first()
    if existing:
        return existing, False
    minute, hour, day_of_week, day_of_month = cron
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_week=day_of_week,
        day_of_month=day_of_month,
        month_of_year="*",
        timezone=BEAT_TIMEZONE,
    )
    return PeriodicTask.objects.create(
        name=name, task=task, crontab=crontab, kwargs=json.dumps(kwargs or {})
    ), True
