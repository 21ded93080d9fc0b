"""The only code that escalates incidents and sends notices; receivers, tasks, admin, API call it.

Timers: `Incident.next_escalation_at` is the truth. The sweeper (`escalate_due`, Celery beat)
fires whatever is due; an ETA task (`escalation_fire_due`) may fire a level sooner. Both go
through `_sweep`, which claims rows (SKIP LOCKED on PostgreSQL, compare-and-set elsewhere)
and writes the `Escalation` (unique per incident and level), its notices and timeline events
in one transaction. Mail goes out after commit from the `Notice` outbox.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import smtplib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import get_connection
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from config.bulk import bulk_insert
from config.memo import memoized
from incidents.models import JST, Incident, TimelineEvent
from incidents.services import (
    ActionNotAllowed,
    incident_lock,
    require_permission,
    timeline_record,
)

from .models import (
    Delivery,
    Escalation,
    EscalationPolicy,
    Notice,
    Step,
    Team,
    delivery_for,
    escalation_stopped,
    plan_due,
    plan_next,
)

log = logging.getLogger(__name__)

ESCALATE_PERMISSION = "incidents.escalate_incident"


# --- side effects after commit --------------------------------------------------------


def _after_commit(publish: Callable[[], object]) -> None:
    """Queue a Celery publish after commit; a dead broker is logged, never raised.

    The database already holds the deadline and the pending notices: the sweepers do the
    work a lost publish would have done, at most one sweep interval later.
    """

    def run():
        try:
            publish()
        except Exception:  # noqa: BLE001 — any broker failure; the sweeper is the fallback
            log.warning("broker unavailable; the sweeper will pick this up", exc_info=True)

    transaction.on_commit(run, robust=True)


def notice_message_queue(
    *, recipients: list[str], subject: str, text: str, language: str = "ja"
) -> list[Notice]:
    """A plain message (e.g. an overdue checklist) through the same outbox and retries.

    Call it inside the transaction that decides to send, so the decision and the notice
    commit together.
    """
    notices = Notice.objects.bulk_create(
        Notice(
            kind=Notice.Kind.MESSAGE,
            recipient=address,
            language=language,
            delivery=Delivery.IMMEDIATE,
            data={"subject": subject, "text": text},
        )
        for address in dict.fromkeys(recipients)
    )
    _send_after_commit([n.pk for n in notices])
    return notices


def eta_max_seconds() -> float:
    """Never longer than the broker's visibility timeout, or Redis delivers the task twice."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout")
    limit = settings.ESCALATION_ETA_MAX_SECONDS
    return min(limit, visibility - 60) if visibility else limit


def _schedule_eta(incident_id: int, deadline: datetime | None, now: datetime) -> None:
    if deadline is None:
        return
    countdown = max(0.0, (deadline - now).total_seconds())
    if countdown > eta_max_seconds():
        return  # the sweeper alone: an ETA this long would outlive the visibility timeout

    def publish():
        from .tasks import escalation_fire_due

        escalation_fire_due.apply_async((incident_id,), countdown=countdown)

    _after_commit(publish)


def _send_after_commit(notice_ids: list[int]) -> None:
    if not notice_ids:
        return

    def publish():
        from .tasks import notices_send

        notices_send.delay(notice_ids)

    _after_commit(publish)


# --- choosing and freezing a policy -----------------------------------------------------


def policy_choose(*, severity: str, category: str, name: str = "") -> EscalationPolicy | None:
    """By name if given; else the most specific policy matching severity and category;
    else the default. None when no policy exists at all (nothing escalates)."""
    if name:
        found = EscalationPolicy.objects.filter(name=name).first()
        if found is not None:
            return found
        log.warning("unknown escalation policy %r; choosing automatically", name)
    policies = list(EscalationPolicy.objects.order_by("name"))  # a handful: one query
    candidates = [
        p
        for p in policies
        if not p.is_default
        and (p.severities or p.categories)
        and p.applies_to(severity=severity, category=category)
    ]
    if candidates:
        return max(candidates, key=lambda p: p.specificity)
    return next((p for p in policies if p.is_default), None)


# --- the core: fire what is due for incidents we hold ---------------------------------


@dataclass
class _Batch:
    """What one transaction writes: escalations, their notices and timeline events."""

    now: datetime
    escalations: list[Escalation] = field(default_factory=list)
    notices: list[tuple[Escalation, Notice]] = field(default_factory=list)
    events: list[TimelineEvent] = field(default_factory=list)
    eta: list[tuple[int, datetime | None]] = field(default_factory=list)

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
            actor=actor if actor and actor.is_authenticated else None,
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
        addresses = ", ".join(r["address"] for r in recipients) or _("nobody (no address)")
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
        _send_after_commit([n.pk for n in notices if n.is_sendable])
        for incident_id, deadline in self.eta:
            _schedule_eta(incident_id, deadline, self.now)


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
            f"UPDATE {table} AS i SET escalation_level = s.level, "  # noqa: S608 — no user input
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
                batch_size = len(batch.escalations), len(batch.notices), len(batch.events)
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
                    del batch.escalations[batch_size[0] :]
                    del batch.notices[batch_size[1] :]
                    del batch.events[batch_size[2] :]
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
        claimed = _sweep(Incident.objects.all(), now=now or timezone.now(), limit=batch_size)
        total, batches = total + claimed, batches + 1
        if claimed < batch_size:
            break
    return total


def deadlines_ahead(
    *, within: timedelta, now: datetime | None = None, limit: int = 20
) -> list[datetime]:
    """The distinct deadlines coming before the next sweep, soonest first."""
    now = now or timezone.now()
    return list(
        Incident.objects.filter(next_escalation_at__gt=now, next_escalation_at__lte=now + within)
        .order_by("next_escalation_at")
        .values_list("next_escalation_at", flat=True)
        .distinct()[:limit]
    )


def escalation_fire_due(*, incident_id: int, now: datetime | None = None) -> int:
    """The ETA task's body: the same claim as the sweeper, for one incident."""
    return _sweep(Incident.objects.filter(pk=incident_id), now=now or timezone.now(), limit=1)


# --- called inside the incident services' transactions (receivers) ---------------------


def escalation_start(*, incident: Incident, policy_name: str = "") -> list[Escalation]:
    """On declaration: choose and freeze the policy, notify level 1, set the next deadline."""

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
    batch = _Batch(now=timezone.now())
    fired = batch.advance(incident)
    Incident.objects.filter(pk=incident.pk).update(
        policy=policy,
        policy_snapshot=incident.policy_snapshot,
        escalation_level=incident.escalation_level,
        next_escalation_at=incident.next_escalation_at,
    )
    batch.write()
    return fired


def escalation_reschedule(
    *, incident: Incident, reason: str = Escalation.Reason.DEADLINE
) -> list[Escalation]:
    """After a change (severity, state, detection time): stop, or fire what is now due.

    The caller holds the incident's row lock (the incident services take it).
    """
    batch = _Batch(now=timezone.now())
    fired = batch.advance(incident, reason=reason)
    _save_schedule(incident)
    batch.write()
    return fired


@transaction.atomic
def incident_escalate(
    *, incident: Incident, actor: AbstractBaseUser, reason: str
) -> list[Escalation]:
    """Move to the next level now, whatever its condition (the runbook's "by hand")."""
    require_permission(actor, ESCALATE_PERMISSION)
    if not reason.strip():
        raise ValidationError({"reason": [_("A reason is required to escalate.")]})
    incident = incident_lock(incident)
    if escalation_stopped(incident) or not (incident.policy_snapshot or {}).get("levels"):
        raise ActionNotAllowed(action="escalate", state=incident.state, allowed=[])
    batch = _Batch(now=timezone.now())
    fired = batch.advance(incident, manual=True, actor=actor, note=reason.strip())
    _save_schedule(incident)
    batch.write()
    return fired


# --- the outbox ---------------------------------------------------------------------------


def _claim_notices(*, now: datetime, ids: list[int] | None, limit: int) -> list[int]:
    """pending → sending, atomically; only the claimer gets a row's id back."""
    table = Notice._meta.db_table
    skip_locked = connection.features.has_select_for_update_skip_locked
    lock = " FOR UPDATE SKIP LOCKED" if skip_locked else ""
    where = (
        "status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= %s)"
        " AND (kind <> 'notice' OR delivery = 'immediate')"  # Notice.is_sendable
    )
    params: list[object] = [now]
    if ids is not None:
        where += f" AND id IN ({', '.join(['%s'] * len(ids))})"
        params.extend(ids)
    sql = (
        f"UPDATE {table} SET status = 'sending', claimed_at = %s "  # noqa: S608 — no user input
        f"WHERE id IN (SELECT id FROM {table} WHERE {where} ORDER BY id LIMIT %s{lock}) "
        "AND status = 'pending' RETURNING id"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [now, *params, limit])
        return sorted(row[0] for row in cursor.fetchall())


def _server_unreachable(error: Exception) -> bool:
    """Down (retry until it answers) as opposed to answering with a refusal (counts)."""
    if isinstance(error, smtplib.SMTPConnectError | smtplib.SMTPServerDisconnected):
        return True
    return isinstance(error, OSError) and not isinstance(error, smtplib.SMTPException)


def _backoff(attempt: int) -> timedelta:
    seconds = settings.NOTICE_RETRY_BASE_SECONDS * 2 ** max(0, attempt - 1)
    return timedelta(seconds=min(seconds, settings.NOTICE_RETRY_MAX_SECONDS))


def _incidents_of(notice: Notice) -> list[Incident]:
    if notice.kind == Notice.Kind.NOTICE:
        return [notice.incident] if notice.incident_id else []
    ids = notice.items.values_list("incident_id", flat=True).distinct()
    return list(Incident.objects.filter(pk__in=ids).order_by("pk"))


def _mark_sent(notices: list[Notice], now: datetime) -> None:
    """Record accepted mail: one transaction per connection batch, timeline in bulk."""
    if not notices:
        return
    with transaction.atomic():
        ids = set(
            Notice.objects.select_for_update()
            .filter(pk__in=[n.pk for n in notices], status=Notice.Status.SENDING)
            .values_list("pk", flat=True)
        )
        Notice.objects.filter(pk__in=ids).update(
            status=Notice.Status.SENT, sent_at=now, attempts=F("attempts") + 1, last_error=""
        )
        Notice.objects.filter(digest_id__in=ids).update(status=Notice.Status.SENT, sent_at=now)
        events = [
            TimelineEvent(
                incident=incident,
                kind=TimelineEvent.Kind.NOTICE_SENT,
                message=notice.recipient,
                data={"notice": notice.pk, "kind": notice.kind, "message_id": notice.message_id},
                at=now,
            )
            for notice in notices
            if notice.pk in ids
            for incident in _incidents_of(notice)
        ]
        TimelineEvent.objects.bulk_create(events)


def _mark_failed_attempt(notice: Notice, error: Exception, now: datetime) -> None:
    """Retry with backoff; a server that answered with errors NOTICE_MAX_ATTEMPTS times fails."""
    unreachable = _server_unreachable(error)
    attempts = notice.attempts + (0 if unreachable else 1)
    text = f"{type(error).__name__}: {error}"[:2000]
    with transaction.atomic():
        if not unreachable and attempts >= settings.NOTICE_MAX_ATTEMPTS:
            updated = Notice.objects.filter(pk=notice.pk, status=Notice.Status.SENDING).update(
                status=Notice.Status.FAILED, attempts=attempts, last_error=text
            )
            if updated:
                notice.items.update(status=Notice.Status.FAILED, last_error=text)
                for incident in _incidents_of(notice):
                    timeline_record(
                        incident=incident,
                        kind=TimelineEvent.Kind.NOTICE_FAILED,
                        message=f"{notice.recipient}: {text}",
                        data={"notice": notice.pk, "kind": notice.kind, "attempts": attempts},
                        at=now,
                    )
            return
        tries = max(attempts, 1) if not unreachable else max(notice.data.get("down", 0) + 1, 1)
        data = notice.data | ({"down": tries} if unreachable else {})
        Notice.objects.filter(pk=notice.pk, status=Notice.Status.SENDING).update(
            status=Notice.Status.PENDING,
            attempts=attempts,
            last_error=text,
            next_attempt_at=now + _backoff(tries),
            data=data,
        )


def notice_deliver(*, notice_ids: Iterable[int] | None = None, limit: int = 50) -> int:
    """Send pending notices (those given, or every one due); returns how many were sent.

    Never inside a transaction: each claim and each batch of results commits on its own, so a
    crash leaves at worst a batch "sending", resent later with the same Message-ID.
    """
    from .emails import notice_message

    now = timezone.now()
    ids = list(notice_ids) if notice_ids is not None else None
    if ids is None:
        stale = now - timedelta(seconds=settings.NOTICE_SENDING_TIMEOUT_SECONDS)
        Notice.objects.filter(status=Notice.Status.SENDING, claimed_at__lt=stale).update(
            status=Notice.Status.PENDING
        )
    sent = 0
    while True:
        claimed = _claim_notices(now=now, ids=ids, limit=limit)
        if not claimed:
            return sent
        notices = Notice.objects.filter(pk__in=claimed).select_related("incident", "escalation")
        mail = get_connection(fail_silently=False)
        try:
            mail.open()
        except Exception as error:  # noqa: BLE001 — server down: everything stays pending
            for notice in notices:
                _mark_failed_attempt(notice, error, timezone.now())
            return sent
        accepted: list[Notice] = []
        try:
            for notice in notices:
                try:
                    mail.send_messages([notice_message(notice)])
                except Exception as error:  # noqa: BLE001 — recorded on the notice
                    log.warning("notice %s to %s failed: %s", notice.pk, notice.recipient, error)
                    _mark_failed_attempt(notice, error, timezone.now())
                    if _server_unreachable(error):
                        mail.close()
                        mail.open()
                    continue
                accepted.append(notice)
                sent += 1
        finally:
            _mark_sent(accepted, timezone.now())
            with contextlib.suppress(Exception):  # closing a dead connection
                mail.close()
        if ids is not None:
            return sent


def notice_retry(*, notices: QuerySet[Notice]) -> int:
    """Put failed notices back in the outbox (admin "retry"); returns how many."""
    count = notices.filter(status=Notice.Status.FAILED).update(
        status=Notice.Status.PENDING, attempts=0, next_attempt_at=None
    )
    Notice.objects.filter(digest__in=notices, status=Notice.Status.FAILED).update(
        status=Notice.Status.PENDING
    )
    return count


# --- digests (1時間集約) and the daily report (日次レポート) ----------------------------


def _collect(*, kind: str, delivery: str, period: datetime, extra_recipients=()) -> list[int]:
    """Gather waiting notices of `delivery` created before `period` into one per recipient."""
    from .selectors import daily_trend

    created = []
    with transaction.atomic():
        waiting = list(
            Notice.objects.select_for_update()
            .filter(
                kind=Notice.Kind.NOTICE,
                delivery=delivery,
                status=Notice.Status.PENDING,
                digest__isnull=True,
                created_at__lt=period,
            )
            .order_by("pk")
        )
        by_recipient: dict[str, list[Notice]] = defaultdict(list)
        for notice in waiting:
            by_recipient[notice.recipient.lower()].append(notice)
        recipients = {
            k: (v[0].recipient, v[0].recipient_name, v[0].language) for k, v in by_recipient.items()
        }
        for address, name, language in extra_recipients:
            recipients.setdefault(address.lower(), (address, name, language))
        data = {}
        if kind == Notice.Kind.REPORT:
            data = {"trend": daily_trend(start=period - timedelta(days=1), end=period)}
        for key, (address, name, language) in sorted(recipients.items()):
            digest, new = Notice.objects.get_or_create(
                kind=kind,
                period=period,
                recipient=address,
                defaults={
                    "recipient_name": name,
                    "language": language,
                    "delivery": delivery,
                    "data": data,
                },
            )
            # A digest already out keeps its content; late items wait for the next period.
            items = [n.pk for n in by_recipient.get(key, [])] if digest.status == "pending" else []
            Notice.objects.filter(pk__in=items).update(digest=digest)
            if new or items:
                created.append(digest.pk)
    _send_after_commit(created)
    return created


def digests_build(*, now: datetime | None = None) -> list[int]:
    """1時間集約: one digest per recipient for the P2 notices of the hour before `now`."""
    now = now or timezone.now()
    period = now.replace(minute=0, second=0, microsecond=0)
    return _collect(kind=Notice.Kind.DIGEST, delivery=Delivery.HOURLY, period=period)


def report_daily_build(*, now: datetime | None = None) -> list[int]:
    """日次レポート at 09:00 JST: P3 notices of the day and the day's trend."""
    local = (now or timezone.now()).astimezone(JST)
    period = local.replace(hour=9, minute=0, second=0, microsecond=0)
    if period > local:
        period -= timedelta(days=1)
    teams = Team.objects.filter(name__in=settings.DAILY_REPORT_TEAMS).prefetch_related(
        "members__profile"
    )
    extra = [(r["address"], r["name"], r["language"]) for t in teams for r in t.recipients()]
    return _collect(
        kind=Notice.Kind.REPORT, delivery=Delivery.DAILY, period=period, extra_recipients=extra
    )
