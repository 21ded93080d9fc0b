"""Heartbeats: configured by managers, pinged by jobs, swept for silence.

A miss (silence past the deadline) or a failure report opens an incident through the incident
services, as an alert does, deduplicated by heartbeat: the heartbeat's row lock serialises its
pings and the sweeper, and while its incident is active every further miss or failure is
recorded on that incident's timeline instead of opening another. A success ping resolves it.

The deadline is stored and compared with the database's clock; the sweeper claims due rows
(SKIP LOCKED on PostgreSQL, and a compare-and-set UPDATE that works on any database), so that
two sweepers never act on one miss twice and a sweeper that was down catches up.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.base import (
    SYSTEM,
    ActionNotAllowed,
    database_now,
    require_permission,
    row_lock,
    timeline_record,
)
from incidents.models import Action, TimelineEvent
from incidents.services import incident_declare, incident_transition

from .models import PING_FIELDS, Heartbeat

log = logging.getLogger(__name__)

SCHEDULE_FIELDS = {"schedule", "interval", "cron", "grace", "enabled"}


def _armed(heartbeat: Heartbeat, *, now: datetime) -> datetime:
    """The deadline counted from the last ping, or from now when that one is already past
    (a new heartbeat, a changed schedule, a pause lifted): silence from then on counts."""
    if heartbeat.last_ping_at is not None:
        deadline = heartbeat.deadline_after(heartbeat.last_ping_at)
        if deadline > now:
            return deadline
    return heartbeat.deadline_after(now)


# --- managers: create and change ----------------------------------------------------------


@transaction.atomic
def heartbeat_create(*, actor: AbstractBaseUser, **fields) -> Heartbeat:
    """A new heartbeat, armed at once: a job that never pings is a miss too."""
    require_permission(actor, "heartbeats.add_heartbeat")
    heartbeat = Heartbeat(**fields)
    heartbeat.full_clean()
    heartbeat.deadline = _armed(heartbeat, now=database_now())
    heartbeat.save()
    return heartbeat


@transaction.atomic
def heartbeat_update(*, heartbeat: Heartbeat, actor: AbstractBaseUser, changes: dict) -> Heartbeat:
    """Change the settings; a new schedule, grace or a pause lifted re-arms the deadline."""
    require_permission(actor, "heartbeats.change_heartbeat")
    row = row_lock(heartbeat)
    for name, value in changes.items():
        setattr(row, name, value)
    row.full_clean()
    if SCHEDULE_FIELDS & set(changes):
        row.deadline = _armed(row, now=database_now())
    row.save()
    return row


@transaction.atomic
def heartbeat_delete(*, heartbeat: Heartbeat, actor: AbstractBaseUser) -> None:
    require_permission(actor, "heartbeats.delete_heartbeat")
    row_lock(heartbeat).delete()


# --- jobs: pings --------------------------------------------------------------------------


def _log_text(body: bytes) -> str:
    # Whatever a job printed: undecodable bytes and NULs (which PostgreSQL's text refuses)
    # become U+FFFD rather than an error, so that the ping itself always counts.
    return body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


@transaction.atomic
def heartbeat_ping(
    *,
    heartbeat: Heartbeat,
    kind: str = Heartbeat.Kind.SUCCESS,
    body: bytes = b"",
    now: datetime | None = None,
) -> Heartbeat:
    """A job checked in. Success: up, its incident resolved, the next run expected. Failure:
    down, an incident opened (or noted on the open one). Start: a run is under way and must
    report success or failure within the grace period.

    The body (the job's output) becomes the last log, cut at HEARTBEAT_LOG_BYTES; a start
    ping without a body keeps the previous run's log.
    """
    now = now or database_now()
    row = row_lock(heartbeat)
    limit = settings.HEARTBEAT_LOG_BYTES
    if body or kind != Heartbeat.Kind.START:
        row.last_log, row.last_log_truncated = _log_text(body[:limit]), len(body) > limit
    row.last_ping_at, row.last_ping_kind, row.pings = now, kind, row.pings + 1
    if kind == Heartbeat.Kind.START:
        row.started_at = now
        row.deadline = now + row.grace
    else:
        row.started_at = None
        row.deadline = row.deadline_after(now)
        if kind == Heartbeat.Kind.SUCCESS:
            row.status = Heartbeat.Status.UP
            _incident_resolve(row, at=now)
        else:
            row.status = Heartbeat.Status.DOWN
            _incident_open(
                row,
                at=now,
                why=_("Heartbeat %(name)s: the job reported a failure.") % {"name": row.name},
            )
    row.save(update_fields=PING_FIELDS)
    return row


# --- the sweeper --------------------------------------------------------------------------


def heartbeats_sweep(*, now: datetime | None = None, batch_size: int | None = None) -> int:
    """Every heartbeat silent past its deadline: missed, in batches; returns how many."""
    batch_size = batch_size or settings.HEARTBEAT_SWEEP_BATCH
    total = 0
    while True:
        claimed = _sweep(now=now or database_now(), limit=batch_size)
        total += claimed
        if claimed < batch_size:
            return total


@transaction.atomic
def _sweep(*, now: datetime, limit: int) -> int:
    due = list(
        Heartbeat.objects.select_for_update(skip_locked=True)
        .filter(enabled=True, deadline__lte=now)
        .order_by("deadline", "pk")[:limit]
    )
    claimed = 0
    for heartbeat in due:
        try:
            with transaction.atomic():
                claimed += _miss(heartbeat, now=now)
        except Exception:  # noqa: BLE001 — left due, retried next sweep; the others go on
            log.exception("heartbeat %s: the miss could not be recorded", heartbeat.name)
    return claimed


def _miss(heartbeat: Heartbeat, *, now: datetime) -> int:
    """One claimed heartbeat's miss: 1 if this sweeper recorded it, 0 if another did."""
    missed = heartbeat.deadline
    deadline = heartbeat.next_window(missed=missed, now=now)
    # Compare-and-set: where rows cannot be locked, the one sweeper whose UPDATE changed the
    # row acts on this miss; a ping that moved the deadline meanwhile wins too.
    won = Heartbeat.objects.filter(pk=heartbeat.pk, deadline=missed).update(
        deadline=deadline, status=Heartbeat.Status.DOWN, started_at=None
    )
    if not won:
        return 0
    heartbeat.deadline, heartbeat.status = deadline, Heartbeat.Status.DOWN
    running = heartbeat.started_at is not None
    heartbeat.started_at = None
    why = (
        _("Heartbeat %(name)s: a run started and never reported its end.")
        if running
        else _("Heartbeat %(name)s: no ping within the expected time and grace period.")
    ) % {"name": heartbeat.name}
    _incident_open(heartbeat, at=min(missed, now), why=why)
    heartbeat.save(update_fields=["incident"])
    return 1


# --- the incident, through the incident services ------------------------------------------


def _incident_open(heartbeat: Heartbeat, *, at: datetime, why: str) -> None:
    """Open the heartbeat's incident, or note this on the one still active."""
    incident = heartbeat.incident
    if incident is not None and incident.is_active:
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.ALERT,
            actor=SYSTEM,
            message=why[:500],
            data={"heartbeat": heartbeat.name},
            at=min(at, timezone.now()),
        )
        return
    heartbeat.incident = incident_declare(
        actor=SYSTEM,
        title=why[:200],
        severity=heartbeat.severity,
        summary=_(
            "Heartbeat %(name)s (%(schedule)s, grace %(grace)s) went silent or failed; "
            "last ping: %(last)s."
        )
        % {
            "name": heartbeat.name,
            "schedule": heartbeat.schedule_text(),
            "grace": heartbeat.grace,
            "last": heartbeat.last_ping_at.isoformat() if heartbeat.last_ping_at else "—",
        },
        service=f"heartbeat:{heartbeat.name}"[:100],
        # A sweep that runs late still dates the detection to the miss; never the future.
        detected_at=min(at, timezone.now()),
        policy_name=heartbeat.policy,
    )


def _incident_resolve(heartbeat: Heartbeat, *, at: datetime) -> None:
    incident = heartbeat.incident
    if incident is None or not incident.is_active:
        return
    timeline_record(
        incident=incident,
        kind=TimelineEvent.Kind.ALERTS_RESOLVED,
        actor=SYSTEM,
        message=_("Heartbeat %(name)s is pinging again.") % {"name": heartbeat.name},
        at=min(at, timezone.now()),
    )
    try:
        heartbeat.incident = incident_transition(
            incident=incident,
            action=Action.RESOLVE,
            actor=SYSTEM,
            note=_("Resolved automatically: the heartbeat is pinging again."),
        )
    except ActionNotAllowed:
        log.info("INC-%s changed state meanwhile; left as it is", incident.pk)
