"""システム状態: `/api/health` checks every moving part of Hikeshi, each a django-health-check
plugin that answers with one cheap query (or a ping) and gives up after a second.

A critical check that fails makes the whole answer "failing" (HTTP 503): the database, the
escalation sweeper, an escalation overdue. Any other failure or warning makes it "degraded"
(HTTP 200): a worker, the broker, the alert processor, the outbox, the alert deliveries.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection
from django.db.models import Min
from django.utils import timezone
from health_check.base import HealthCheck, HealthCheckResult
from health_check.exceptions import ServiceUnavailable, ServiceWarning

from incidents.models import Incident
from integrations.models import AlertDelivery
from notices.models import Notice
from pulses.models import Pulse

# The database checks take turns on one thread and share its connection, closed after each
# round (a database restart leaves no broken connection behind): one connect per answer, not
# one per check. The broker is pinged beside them. Each check still gives up after a second.
DATABASE_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="health-db")
EXECUTOR = ThreadPoolExecutor(max_workers=2, thread_name_prefix="health")


@dataclasses.dataclass
class Check(HealthCheck):
    """A Hikeshi check: a name in the answer, its figures, and whether its failure fails all."""

    name: ClassVar[str] = ""
    critical: ClassVar[bool] = False
    uses_database: ClassVar[bool] = True
    # django-health-check waits the check's timeout plus one second: one second in all.
    timeout: ClassVar[datetime.timedelta] = datetime.timedelta(0)
    figures: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    def run(self) -> None:
        self.inspect()

    def inspect(self) -> None:
        raise NotImplementedError


def _age(moment: datetime.datetime | None) -> float | None:
    return round((timezone.now() - moment).total_seconds(), 1) if moment else None


def _pulse(name: str) -> Pulse | None:
    return Pulse.objects.filter(name=name).first()


@dataclasses.dataclass
class Database(Check):
    name: ClassVar[str] = "database"
    critical: ClassVar[bool] = True

    def inspect(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except Exception as error:
            raise ServiceUnavailable(f"{type(error).__name__}") from error


@dataclasses.dataclass
class Broker(Check):
    """Redis answers a ping; the embedded filesystem broker's folders are writable."""

    name: ClassVar[str] = "broker"
    uses_database: ClassVar[bool] = False

    def inspect(self) -> None:
        url = settings.CELERY_BROKER_URL
        if url.startswith("filesystem://"):
            folders = settings.CELERY_BROKER_TRANSPORT_OPTIONS
            for key in ("data_folder_in", "processed_folder", "control_folder"):
                if not os.access(Path(folders[key]), os.W_OK):
                    raise ServiceUnavailable(f"{key} is not writable")
            return
        import redis  # the filesystem broker needs no client

        try:
            redis.Redis.from_url(url, socket_timeout=0.8, socket_connect_timeout=0.8).ping()
        except redis.RedisError as error:
            raise ServiceUnavailable(type(error).__name__) from error


@dataclasses.dataclass
class Worker(Check):
    """A worker's own pulse (written every PULSE_SECONDS while it consumes its queue)."""

    queue: str = "celery"

    @property
    def label(self) -> str:
        return {"celery": "notices worker", "timers": "timers worker", "chat": "chat worker"}[
            self.queue
        ]

    def inspect(self) -> None:
        pulse = _pulse(f"worker:{self.queue}")
        self.figures = {"last_pulse_s": _age(pulse.at) if pulse else None}
        if pulse is None or pulse.at < timezone.now() - timedelta(
            seconds=3 * settings.PULSE_SECONDS
        ):
            raise ServiceWarning("no recent pulse")


@dataclasses.dataclass
class Scheduler(Check):
    """The escalation sweeper ran within three sweep intervals: the timers' guarantee."""

    name: ClassVar[str] = "scheduler"
    critical: ClassVar[bool] = True

    def inspect(self) -> None:
        pulse = _pulse("sweeper")
        self.figures = {"last_sweep_s": _age(pulse.at) if pulse else None}
        limit = timedelta(seconds=3 * settings.ESCALATION_SWEEP_SECONDS)
        if pulse is None or pulse.at < timezone.now() - limit:
            raise ServiceUnavailable("the escalation sweeper has not run")


@dataclasses.dataclass
class AlertProcessor(Check):
    """Every lane's pulse is fresh, or beat is applying deliveries in the processor's place."""

    name: ClassVar[str] = "alert processor"

    def inspect(self) -> None:
        fresh = timezone.now() - timedelta(seconds=3 * settings.PULSE_SECONDS)
        lanes = list(Pulse.objects.filter(name__startswith="alerts:lane:", at__gte=fresh))
        swept = Pulse.objects.filter(
            name="alerts:sweep",
            at__gte=timezone.now() - timedelta(seconds=3 * settings.ALERT_SWEEP_SECONDS),
        ).exists()
        self.figures = {"lanes_alive": len(lanes), "beat_sweeping": swept}
        if not lanes and not swept:
            raise ServiceWarning("no lane and no beat sweep")


@dataclasses.dataclass
class Outbox(Check):
    """Notices waiting to leave: how many, and how long the oldest due one has waited."""

    name: ClassVar[str] = "outbox"

    def inspect(self) -> None:
        now = timezone.now()
        due = Notice.objects.filter(status=Notice.Status.PENDING).exclude(
            kind=Notice.Kind.NOTICE, delivery__in=["hourly", "daily"]
        )
        waiting = due.aggregate(oldest=Min("created_at"))
        self.figures = {"pending": due.count(), "oldest_pending_s": _age(waiting["oldest"])}
        if waiting["oldest"] and waiting["oldest"] < now - timedelta(
            seconds=settings.NOTICE_STUCK_SECONDS
        ):
            raise ServiceWarning("a notice has waited too long")


@dataclasses.dataclass
class AlertDeliveries(Check):
    """Accepted alerts not applied yet, and those set aside after repeated failures."""

    name: ClassVar[str] = "alert deliveries"

    def inspect(self) -> None:
        rows = AlertDelivery.objects
        waiting = rows.filter(failed_at__isnull=True).aggregate(oldest=Min("received_at"))
        set_aside = rows.filter(failed_at__isnull=False).count()
        self.figures = {
            "waiting": rows.filter(failed_at__isnull=True).count(),
            "oldest_waiting_s": _age(waiting["oldest"]),
            "set_aside": set_aside,
        }
        late = timezone.now() - timedelta(seconds=3 * settings.ALERT_SWEEP_AFTER_SECONDS)
        if set_aside or (waiting["oldest"] and waiting["oldest"] < late):
            raise ServiceWarning("deliveries set aside or waiting too long")


@dataclasses.dataclass
class OverdueEscalations(Check):
    """Incidents whose escalation deadline passed more than three sweeps ago: always 0."""

    name: ClassVar[str] = "overdue escalations"
    critical: ClassVar[bool] = True

    def inspect(self) -> None:
        limit = timezone.now() - timedelta(seconds=3 * settings.ESCALATION_SWEEP_SECONDS)
        overdue = Incident.objects.filter(next_escalation_at__lt=limit).count()
        self.figures = {"overdue": overdue}
        if overdue:
            raise ServiceUnavailable(f"{overdue} escalations overdue")


def checks() -> list[Check]:
    found: list[Check] = [Database(), Broker()]
    found += [Worker(queue=queue) for queue in ("celery", "timers", "chat")]
    found += [Scheduler(), AlertProcessor(), Outbox(), AlertDeliveries(), OverdueEscalations()]
    return found


def check_name(check: Check) -> str:
    return check.label if isinstance(check, Worker) else check.name


def check_status(result: HealthCheckResult) -> str:
    if result.error is None:
        return "ok"
    return "degraded" if isinstance(result.error, ServiceWarning) else "failing"


def overall_status(results: list[HealthCheckResult]) -> str:
    statuses = [(check_status(r), r.check.critical) for r in results]
    if any(status == "failing" and critical for status, critical in statuses):
        return "failing"
    return "ok" if all(status == "ok" for status, _critical in statuses) else "degraded"


async def _gather(found: list[Check]) -> list[HealthCheckResult]:
    return await asyncio.gather(
        *(
            check.get_result(DATABASE_EXECUTOR if check.uses_database else EXECUTOR)
            for check in found
        )
    )


def _close_connection() -> None:
    """Run on the database checks' thread: `connection` is that thread's own connection."""
    connection.close()


def run_checks() -> list[HealthCheckResult]:
    """Every check, each within its second."""
    try:
        return async_to_sync(_gather)(checks())
    finally:
        # Not `submit(connection.close)`: that looks the method up here, on the caller's
        # connection, and the checks' thread kept a connection that went stale.
        DATABASE_EXECUTOR.submit(_close_connection)
