"""Escalation timers: the plan frozen onto an incident, and the sweep that fires its levels.

`Incident.next_escalation_at` is the truth. The sweeper (`escalate_due`, Celery beat) fires
whatever is due; an ETA task (`escalation_fire_due`) may fire a level sooner. Both go through
`_sweep`, which claims rows (SKIP LOCKED on PostgreSQL, compare-and-set elsewhere) and writes
the `Escalation` (unique per incident and level), its notices and timeline events in one
transaction. The notices leave through the outbox after commit.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from config.base import (
    ActionNotAllowed,
    database_now,
    recorded_actor,
    require_permission,
    row_lock,
    tasks_after_commit,
)
from config.bulk import bulk_insert
from config.memo import memoized
from incidents.models import Incident, TimelineEvent
from notices.models import Channel, Notice, delivery_for
from notices.services import notices_send_after_commit

from ..models import Escalation, Step, Team, escalation_stopped, plan_due, plan_next
from .policies import policy_choose

log = logging.getLogger(__name__)

ESCALATE_PERMISSION = "incidents.escalate_incident"


def eta_max_seconds() -> float:
    """Never longer than the broker's visibility timeout, or Redis delivers the task twice."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout")
    limit = settings.ESCALATION_ETA_MAX_SECONDS
    return min(limit, visibility - 60) if visibility else limit


def _schedule_etas(etas: list[tuple[int, datetime | None]], now: datetime) -> None:
    calls = []
    for incident_id, deadline in etas:
        if deadline is None:
            continue
        countdown = max(0.0, (deadline - now).total_seconds())
        if countdown > eta_max_seconds():
            continue  # the sweeper alone: an ETA this long would outlive the visibility timeout
        calls.append(((incident_id,), countdown))
    tasks_after_commit("escalation.fire_due", calls)


# --- the core: fire what is due for incidents we hold ---------------------------------


@dataclass
class _Batch:
    """What one transaction writes: escalations, their notices and timeline events."""

    now: datetime
    escalations: list[Escalation] = field(default_factory=list)
    notices: list[tuple[Escalation, Notice]] = field(default_factory=list)
    events: list[TimelineEvent] = field(default_factory=list)
    eta: list[tuple[int, datetime | None]] = field(default_factory=list)
    _chat_teams: dict[int, str] | None = None

    def chat_teams(self) -> dict[int, str]:
        """Teams with a channel now, id → chat kind: a channel frozen into the plan whose team
        lost its webhook (or was deleted) since is skipped, not posted to."""
        if self._chat_teams is None:
            self._chat_teams = dict(
                Team.objects.exclude(chat_kind="")
                .exclude(chat_webhook_url="")
                .values_list("pk", "chat_kind")
            )
        return self._chat_teams

    def fire(
        self,
        incident: Incident,
        step: Step,
        *,
        reason: str,
        actor: AbstractBaseUser | None = None,
        note: str = "",
    ) -> Escalation:
        level = step.level
        delivery = delivery_for(incident.severity)
        recipients = level["recipients"]
        escalation = Escalation(
            incident=incident,
            level=level["number"],
            name=level["name"],
            deadline=step.deadline,
            fired_at=self.now,
            reason=reason,
            note=note,
            actor=recorded_actor(actor),
            severity=incident.severity,
            delivery=delivery,
            recipients=[r["address"] for r in recipients],
        )
        self.escalations.append(escalation)
        for recipient in recipients:
            notice = Notice(
                kind=Notice.Kind.NOTICE,
                incident=incident,
                recipient=recipient["address"],
                recipient_name=recipient.get("name", "")[:200],
                language=recipient.get("language") or "ja",
                delivery=delivery,
                data={"emergency_contact": bool(level.get("emergency_contact"))},
            )
            self.notices.append((escalation, notice))
        live = self.chat_teams() if level.get("channels") else {}
        channels = [c for c in level.get("channels", []) if c["team_id"] in live]
        for channel in channels:
            notice = Notice(
                kind=Notice.Kind.NOTICE,
                channel=live[channel["team_id"]],
                incident=incident,
                team_id=channel["team_id"],
                recipient=channel["team"],
                language=channel.get("language") or "ja",
                delivery=delivery,
                data={"emergency_contact": bool(level.get("emergency_contact"))},
            )
            self.notices.append((escalation, notice))
        addresses = ", ".join(
            [r["address"] for r in recipients]
            + [f"{Channel(live[c['team_id']]).label}: {c['team']}" for c in channels]
        ) or _("nobody (no address)")
        self.events.append(
            TimelineEvent(
                incident=incident,
                kind=TimelineEvent.Kind.ESCALATED,
                actor=escalation.actor,
                at=self.now,
                message=_("Level %(n)d %(name)s: %(to)s")
                % {"n": level["number"], "name": level["name"], "to": addresses},
                data={
                    "level": level["number"],
                    "reason": reason,
                    "deadline": step.deadline.isoformat(),
                    "delivery": delivery,
                    "recipients": escalation.recipients,
                    "channels": [channel["team"] for channel in channels],
                    "note": note,
                },
            )
        )
        return escalation

    def advance(
        self,
        incident: Incident,
        *,
        reason: str = Escalation.Reason.DEADLINE,
        manual: bool = False,
        actor: AbstractBaseUser | None = None,
        note: str = "",
    ) -> list[Escalation]:
        """Fire every level due now (by hand: the next one, too) and set the next deadline."""
        snapshot = incident.policy_snapshot or {}
        fired: list[Escalation] = []
        if not snapshot.get("levels") or escalation_stopped(incident):
            incident.next_escalation_at = None
            self.eta.append((incident.pk, None))
            return fired
        after = incident.escalation_level
        if manual:
            step = plan_next(
                snapshot,
                after=after,
                severity=incident.severity,
                detected_at=incident.detected_at,
                manual=True,
            )
            if step is None:
                raise ActionNotAllowed(action="escalate", state=incident.state, allowed=[])
            fired.append(
                self.fire(incident, step, reason=Escalation.Reason.MANUAL, actor=actor, note=note)
            )
            after = step.number
        due, upcoming = plan_due(
            snapshot,
            after=after,
            severity=incident.severity,
            detected_at=incident.detected_at,
            now=self.now,
        )
        for step in due:
            fired.append(self.fire(incident, step, reason=reason))
            after = step.number
        incident.escalation_level = after
        incident.next_escalation_at = upcoming.deadline if upcoming else None
        self.eta.append((incident.pk, incident.next_escalation_at))
        return fired

    def write(self) -> None:
        """Insert everything in bulk; the unique constraints are the last line of defence."""
        bulk_insert(self.escalations)
        for escalation, notice in self.notices:
            notice.escalation = escalation
        notices = bulk_insert([n for _e, n in self.notices])
        bulk_insert(self.events)
        notices_send_after_commit(n for n in notices if n.is_sendable)
        _schedule_etas(self.eta, self.now)


def _save_schedule(incident: Incident) -> None:
    Incident.objects.filter(pk=incident.pk).update(
        escalation_level=incident.escalation_level,
        next_escalation_at=incident.next_escalation_at,
    )


def _save_schedules(incidents: list[Incident]) -> None:
    """One UPDATE for a whole claimed batch (PostgreSQL): Django's bulk_update builds a CASE
    per field and row, which cost more than everything else a sweep does."""
    if not incidents:
        return
    table = Incident._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS i SET escalation_level = s.level, "  # noqa: S608 # nosec B608 # the model's table name; values are bound parameters
            "next_escalation_at = s.deadline FROM "
            "unnest(%s::bigint[], %s::smallint[], %s::timestamptz[]) AS s(id, level, deadline) "
            "WHERE i.id = s.id",
            [
                [i.pk for i in incidents],
                [i.escalation_level for i in incidents],
                [i.next_escalation_at for i in incidents],
            ],
        )


def _sweep(candidates: QuerySet[Incident], *, now: datetime, limit: int) -> int:
    """Claim due incidents from `candidates`, fire their levels; returns how many were claimed.

    PostgreSQL: the rows are locked with SKIP LOCKED, so concurrent sweepers and ETA tasks
    take disjoint rows. Elsewhere (SQLite): a compare-and-set UPDATE on the values we read
    claims each row; whoever changes 0 rows lost the race and does nothing (healthchecks.io's
    `sendalerts`).
    """
    fields = ["escalation_level", "next_escalation_at"]
    with transaction.atomic():
        due = candidates.filter(next_escalation_at__lte=now).order_by("next_escalation_at", "pk")
        batch = _Batch(now=now)
        if connection.features.has_select_for_update_skip_locked:
            rows = list(due.select_for_update(skip_locked=True, of=("self",))[:limit])
            for incident in rows:
                batch.advance(incident)
            _save_schedules(rows)
        else:
            rows = []
            for incident in due[:limit]:
                seen = (incident.escalation_level, incident.next_escalation_at)
                planned = len(batch.escalations), len(batch.notices), len(batch.events)
                batch.advance(incident)
                claimed = Incident.objects.filter(
                    pk=incident.pk,
                    escalation_level=seen[0],
                    next_escalation_at=seen[1],
                    state=incident.state,
                    severity=incident.severity,
                ).update(**{name: getattr(incident, name) for name in fields})
                if claimed:
                    rows.append(incident)
                else:  # someone else fired it: forget what we planned for this one
                    del batch.escalations[planned[0] :]
                    del batch.notices[planned[1] :]
                    del batch.events[planned[2] :]
                    batch.eta.pop()
        batch.write()
    return len(rows)


def escalate_due(
    *, now: datetime | None = None, batch_size: int | None = None, max_batches: int | None = None
) -> int:
    """The sweeper: escalate every incident whose deadline has passed, in batches."""
    batch_size = batch_size or settings.ESCALATION_SWEEP_BATCH
    total = batches = 0
    while max_batches is None or batches < max_batches:
        claimed = _sweep(Incident.objects.all(), now=now or database_now(), limit=batch_size)
        total, batches = total + claimed, batches + 1
        if claimed < batch_size:
            break
    return total


def deadlines_ahead(
    *, within: timedelta, now: datetime | None = None, limit: int = 20
) -> list[datetime]:
    """The distinct deadlines coming before the next sweep, soonest first."""
    now = now or database_now()
    return list(
        Incident.objects.filter(next_escalation_at__gt=now, next_escalation_at__lte=now + within)
        .order_by("next_escalation_at")
        .values_list("next_escalation_at", flat=True)
        .distinct()[:limit]
    )


def escalation_fire_due(*, incident_id: int, now: datetime | None = None) -> int:
    """The ETA task's body: the same claim as the sweeper, for one incident."""
    return _sweep(Incident.objects.filter(pk=incident_id), now=now or database_now(), limit=1)


# --- called by the incident services, inside their transaction ----------------------------


def escalation_plan_freeze(*, incident: Incident, policy_name: str = "") -> None:
    """At declaration, before the incident is saved: choose its policy and freeze a copy of
    its levels and recipients onto it, so that editing the policy later never changes this
    escalation. `policy_name` (the API's or an integration's choice) wins over the rules."""

    def choose_and_freeze():
        policy = policy_choose(
            severity=incident.severity, category=incident.category, name=policy_name
        )
        return policy, policy.snapshot() if policy else {}

    key = ("escalation policy", incident.severity, incident.category, policy_name)
    policy, snapshot = memoized(key, choose_and_freeze)
    incident.policy = policy
    incident.policy_snapshot = copy.deepcopy(snapshot)
    incident.escalation_level = 0


def _advance(incident: Incident, **how) -> list[Escalation]:
    """Fire what is due now for an incident whose row the caller holds, and set its timer."""
    batch = _Batch(now=timezone.now())
    fired = batch.advance(incident, **how)
    _save_schedule(incident)
    batch.write()
    return fired


def escalation_timer_start(*, incident: Incident) -> list[Escalation]:
    """Right after declaration: fire what is due at once (level 1) and set the next deadline;
    after commit, an ETA task for it."""
    return _advance(incident)


def escalation_timers_start(
    *,
    incidents: Sequence[Incident],
    before: Sequence[TimelineEvent] = (),
    after: Sequence[TimelineEvent] = (),
) -> list[Escalation]:
    """`escalation_timer_start` for incidents declared together, one statement per table for
    all of them. `before` and `after`: other timeline events of theirs (the declarations, the
    alerts that joined them), written in the same statement, before and after the levels'."""
    batch = _Batch(now=timezone.now())
    batch.events.extend(before)
    fired = [escalation for incident in incidents for escalation in batch.advance(incident)]
    if connection.vendor == "postgresql":
        _save_schedules(list(incidents))
    else:
        for incident in incidents:
            _save_schedule(incident)
    batch.events.extend(after)
    batch.write()
    return fired


def escalation_reschedule(
    *, incident: Incident, reason: str = Escalation.Reason.DEADLINE
) -> list[Escalation]:
    """After a change (severity, state, detection time): stop, or fire what is now due.

    The caller holds the incident's row lock (the incident services take it).
    """
    return _advance(incident, reason=reason)


@transaction.atomic
def incident_escalate(
    *, incident: Incident, actor: AbstractBaseUser, reason: str
) -> list[Escalation]:
    """Move to the next level now, whatever its condition (the runbook's "by hand")."""
    require_permission(actor, ESCALATE_PERMISSION)
    if not reason.strip():
        raise ValidationError({"reason": [_("A reason is required to escalate.")]})
    incident = row_lock(incident)
    if escalation_stopped(incident) or not (incident.policy_snapshot or {}).get("levels"):
        raise ActionNotAllowed(action="escalate", state=incident.state, allowed=[])
    return _advance(incident, manual=True, actor=actor, note=reason.strip())
