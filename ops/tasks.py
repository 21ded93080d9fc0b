from celery import shared_task
from django.utils import timezone

from .reports import Month, ops_report_write


@shared_task(name="ops.write_monthly_report")
def write_monthly_report_task() -> str:
    """Beat runs this on the 1st (JST) for the month that just ended."""
    return str(ops_report_write(month=Month.previous_of(timezone.now())))
