"""The outbox: notices are written inside the transaction that decides to send them and sent
after it commits, pending → sending → sent, or failed after repeated refusals.

E-mail and team channels (Slack, Mattermost, Teams) leave by their own tasks on their own
queues, so a chat outage or rate limit never holds an e-mail back. A crash between the
receiver's acceptance and our commit leaves a notice "sending"; it is sent again later (an
e-mail with the same Message-ID, so the rare resend is recognisably the same).
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import EmailMessage
from django.core.mail.message import sanitize_address
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from config.base import audit_change, require_permission, task_after_commit
from config.bulk import bulk_insert
from incidents.models import Incident, TimelineEvent

from .chat import chat_body
from .emails import message_bytes, notice_message, rendering_batch
from .mailpool import Lease, Pooled
from .mailpool import pool as mail_pool
from .models import Channel, Delivery, Notice
from .webhooks import WebhookFailed, webhook_post

log = logging.getLogger(__name__)

RETRY_PERMISSION = "notices.retry_notice"


def notices_send_after_commit(notices: Iterable[Notice]) -> None:
    """Send these notices once the transaction that wrote them commits: e-mail by one task,
    channel posts by another, on the chat queue."""
    mail, chat = [], []
    for notice in notices:
        (chat if notice.is_chat else mail).append(notice.pk)
    if mail:
        task_after_commit("notices.send", mail)
    if chat:
        task_after_commit("notices.send_chat", chat)


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
    notices_send_after_commit(notices)
    return notices


# Most severe first (P0 before a burst of lesser notices), then oldest: a burst of P1/P2 mail
# never holds a new P0's notice back longer than one batch. Severities sort as text: P0 < P3.
# The notice's copy of its incident's severity (kept equal to it by the database), so that the
# claim walks the index notice_claim_email / notice_claim_chat in this order and stops at its
# batch: a claim costs its batch, whatever the backlog, where a join sorted the whole backlog.
PRIORITY = "n.severity NULLS LAST, n.id"


def _claim_notices(
    *, now: datetime, ids: list[int] | None, limit: int, chat: bool = False
) -> list[int]:
    """pending → sending, atomically; only the claimer gets a row's id back."""
    table = Notice._meta.db_table
    skip_locked = connection.features.has_select_for_update_skip_locked
    lock = " FOR UPDATE OF n SKIP LOCKED" if skip_locked else ""
    # The claim indexes' condition (models.CLAIMABLE and the channel), then what is due.
    where = (
        "n.status = 'pending' AND (n.kind <> 'notice' OR n.delivery = 'immediate')"
        f" AND n.channel {'<>' if chat else '='} 'email'"
        " AND (n.next_attempt_at IS NULL OR n.next_attempt_at <= %s)"
    )
    params: list[object] = [now]
    if ids is not None:
        where += f" AND n.id IN ({', '.join(['%s'] * len(ids))})"
        params.extend(ids)
    # The batch chosen once, in a CTE of its own: as `id IN (subquery)` the plan may rescan a
    # LIMIT … SKIP LOCKED subquery, and each rescan skips the rows just taken and takes more.
    materialized = " MATERIALIZED" if connection.vendor == "postgresql" else ""
    sql = (
        f"WITH batch AS{materialized} (SELECT n.id FROM {table} n"  # noqa: S608 # nosec B608 # fixed SQL and the model's table name; values are bound parameters
        f" WHERE {where} ORDER BY {PRIORITY} LIMIT %s{lock}) "
        f"UPDATE {table} SET status = 'sending', claimed_at = %s "
        "WHERE id IN (SELECT id FROM batch) AND status = 'pending' RETURNING id"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit, now])
        return sorted(row[0] for row in cursor.fetchall())


def _server_unreachable(error: Exception) -> bool:
    """Down (retry until it answers) as opposed to answering with a refusal (counts)."""
    if isinstance(error, smtplib.SMTPConnectError | smtplib.SMTPServerDisconnected):
        return True
    return isinstance(error, OSError) and not isinstance(error, smtplib.SMTPException)


def _try_later(error: Exception) -> bool:
    """A 4xx refusal of the recipient: that domain's server is busy, not the address wrong."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return any(400 <= code < 500 for code, _reply in error.recipients.values())
    return isinstance(error, smtplib.SMTPResponseException) and 400 <= error.smtp_code < 500


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower()


def _backoff(attempt: int) -> timedelta:
    seconds = settings.NOTICE_RETRY_BASE_SECONDS * 2 ** max(0, attempt - 1)
    return timedelta(seconds=min(seconds, settings.NOTICE_RETRY_MAX_SECONDS))


def _incidents_of(notice: Notice) -> list[Incident]:
    if notice.incident_id:
        return [notice.incident]
    ids = notice.items.values_list("incident_id", flat=True).distinct()
    return list(Incident.objects.filter(pk__in=ids).order_by("pk"))


COLLECTING = (Notice.Kind.DIGEST, Notice.Kind.REPORT)


def _mark_sent(notices: list[Notice], now: datetime) -> int:
    """Record accepted mail: one transaction per batch, one UPDATE, the timeline in bulk;
    returns how many were still ours to record."""
    if not notices:
        return 0
    table = Notice._meta.db_table
    placeholders = ", ".join(["%s"] * len(notices))
    # One statement: those still "sending" (ours: not released as stale and claimed again
    # meanwhile) become sent, by the primary key, and say which they were.
    sql = (
        f"UPDATE {table} SET status = 'sent', sent_at = %s, attempts = attempts + 1,"  # noqa: S608 # nosec B608 # fixed SQL and the model's table name; values are bound parameters
        f" last_error = '' WHERE id IN ({placeholders}) AND status = 'sending' RETURNING id"
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, [now, *(n.pk for n in notices)])
            ids = {row[0] for row in cursor.fetchall()}
        if any(n.kind in COLLECTING for n in notices):
            Notice.objects.filter(digest_id__in=ids).update(status=Notice.Status.SENT, sent_at=now)
        events = [
            TimelineEvent(
                incident=incident,
                kind=TimelineEvent.Kind.NOTICE_SENT,
                message=_addressee(notice),
                data={
                    "notice": notice.pk,
                    "kind": notice.kind,
                    "channel": notice.channel,
                    "message_id": notice.message_id,
                },
                at=now,
            )
            for notice in notices
            if notice.pk in ids
            for incident in _incidents_of(notice)
        ]
        bulk_insert(events)  # a batch of 50 events: Django's bulk_create was most of this step
    return len(ids)


def _addressee(notice: Notice) -> str:
    return (
        f"{notice.get_channel_display()}: {notice.recipient}"
        if notice.is_chat
        else (notice.recipient)
    )


@dataclass
class Failure:
    """A notice the receiver did not take this time, and why."""

    notice: Notice
    error: Exception
    # False for an unreachable receiver: waited out, never counted against the notice.
    counted: bool = True
    # A receiver that asked us to wait (HTTP 429): no sooner than it asked.
    retry_after: float | None = None


def _record_failures(failures: list[Failure], now: datetime) -> None:
    """Retry with backoff; a receiver that refused NOTICE_MAX_ATTEMPTS times fails the notice.

    A batch's refusals in one transaction: the retried notices in one UPDATE, those given up
    on in another, their timeline entries in bulk.
    """
    if not failures:
        return
    with transaction.atomic():
        ours = set(
            Notice.objects.select_for_update()
            .filter(pk__in=[f.notice.pk for f in failures], status=Notice.Status.SENDING)
            .values_list("pk", flat=True)
        )
        retried: list[Notice] = []
        given_up: list[Notice] = []
        for failure in failures:
            notice = failure.notice
            if notice.pk not in ours:
                continue
            unreachable = not failure.counted
            attempts = notice.attempts + (0 if unreachable else 1)
            notice.attempts = attempts
            notice.last_error = f"{type(failure.error).__name__}: {failure.error}"[:2000]
            if not unreachable and attempts >= settings.NOTICE_MAX_ATTEMPTS:
                notice.status = Notice.Status.FAILED
                given_up.append(notice)
                continue
            tries = max(attempts, 1) if not unreachable else max(notice.data.get("down", 0) + 1, 1)
            if unreachable:
                notice.data = notice.data | {"down": tries}
            wait = (
                timedelta(seconds=failure.retry_after)
                if failure.retry_after is not None
                else _backoff(tries)
            )
            notice.status = Notice.Status.PENDING
            notice.next_attempt_at = now + wait
            retried.append(notice)
        if retried:
            Notice.objects.bulk_update(
                retried, ["status", "attempts", "last_error", "next_attempt_at", "data"]
            )
        if not given_up:
            return
        Notice.objects.bulk_update(given_up, ["status", "attempts", "last_error"])
        for notice in given_up:
            if notice.kind in COLLECTING:
                notice.items.update(status=Notice.Status.FAILED, last_error=notice.last_error)
        TimelineEvent.objects.bulk_create(
            TimelineEvent(
                incident=incident,
                kind=TimelineEvent.Kind.NOTICE_FAILED,
                message=f"{_addressee(notice)}: {notice.last_error}",
                data={"notice": notice.pk, "kind": notice.kind, "attempts": notice.attempts},
                at=now,
            )
            for notice in given_up
            for incident in _incidents_of(notice)
        )


def _mark_failed_attempt(
    notice: Notice,
    error: Exception,
    now: datetime,
    *,
    counted: bool,
    retry_after: float | None = None,
) -> None:
    """One notice's failure (a channel post): as a batch's, on its own."""
    _record_failures([Failure(notice, error, counted, retry_after)], now)


def _release_stale_claims(now: datetime, *, chat: bool) -> None:
    """A notice left "sending" that long was claimed by a worker that died mid-send."""
    stale = now - timedelta(seconds=settings.NOTICE_SENDING_TIMEOUT_SECONDS)
    claimed = Notice.objects.filter(status=Notice.Status.SENDING, claimed_at__lt=stale)
    claimed = claimed.exclude(channel=Channel.EMAIL) if chat else claimed.filter(channel="email")
    claimed.update(status=Notice.Status.PENDING)


# --- e-mail: claimed batches sent over the pool's connections --------------------------------

STAGES = ("claim", "render", "mime", "smtp", "mark_sent", "record_failures")


@dataclass
class Batch:
    """One claimed batch, rendered, sent over one connection of the pool by a sender thread;
    what became of each notice is recorded by the thread that claimed it."""

    messages: list[tuple[Notice, EmailMessage]]
    accepted: list[Notice] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    server_down: bool = False
    unsent: list[Notice] = field(default_factory=list)
    interrupted: BaseException | None = None
    mime_seconds: float = 0.0  # turning the rendered messages into bytes for the wire
    smtp_seconds: float = 0.0  # the conversation with the server


def _batch_rendered(claimed: list[int]) -> Batch:
    """The claimed notices, most severe first, each rendered once; what they share (contacts,
    an incident's earlier levels) looked up once for the batch."""
    notices = (
        Notice.objects.filter(pk__in=claimed)
        .select_related("incident", "escalation")
        .order_by(F("incident__severity").asc(nulls_last=True), "pk")
    )
    messages, failures = [], []
    with rendering_batch():
        for notice in notices:
            try:
                messages.append((notice, notice_message(notice)))
            except Exception as error:  # noqa: BLE001 — recorded on the notice, counted
                log.warning("notice %s could not be rendered: %s", notice.pk, error)
                failures.append(Failure(notice, error))
    return Batch(messages=messages, failures=failures)


@lru_cache(maxsize=1024)  # a few team addresses; bounded, whatever the backlog
def _envelope_address(address: str, encoding: str) -> str:
    return sanitize_address(address, encoding)


def _send_one(connection: Pooled, message: EmailMessage) -> None:
    if not connection.is_smtp:  # the console, file or test outbox backends
        connection.backend.send_messages([message])
        return
    clock = time.perf_counter()
    encoding = message.encoding or settings.DEFAULT_CHARSET
    data = message_bytes(message)
    sender = _envelope_address(message.from_email, encoding)
    recipients = [_envelope_address(address, encoding) for address in message.recipients()]
    connection.mime_seconds += time.perf_counter() - clock
    connection.smtp.sendmail(sender, recipients, data)
    connection.sends += 1


def _send_batch(batch: Batch, lease: Lease, deferred: dict[str, Exception]) -> Batch:
    """In a sender thread, on the lease's connection, without the database. `deferred` is the
    drain's: a domain whose server said "try later" is not asked again by any batch of it."""
    started = time.perf_counter()
    healthy = False
    try:
        try:
            connection = lease.open()
        except Exception as error:  # noqa: BLE001 — server down: everything stays pending
            batch.failures += [Failure(n, error, counted=False) for n, _m in batch.messages]
            batch.server_down = True
            return batch
        # A session that waited in the pool may have been closed by the server meanwhile.
        maybe_closed = connection.sends > 0
        for index, (notice, message) in enumerate(batch.messages):
            domain = _domain(notice.recipient)
            if domain in deferred:
                # Its server asked us to wait: the domain's other notices wait with it (an
                # attempt each, as if refused) and the batch goes on to the other domains.
                batch.failures.append(Failure(notice, deferred[domain]))
                continue
            try:
                try:
                    _send_one(connection, message)
                except Exception as error:
                    if not (maybe_closed and _server_unreachable(error)):
                        raise
                    connection.reopen()
                    _send_one(connection, message)
            except Exception as error:  # noqa: BLE001 — recorded on the notice
                log.warning("notice %s to %s failed: %s", notice.pk, notice.recipient, error)
                unreachable = _server_unreachable(error)
                batch.failures.append(Failure(notice, error, counted=not unreachable))
                if _try_later(error):
                    deferred[domain] = error
                if unreachable:
                    try:
                        connection.reopen()
                    except Exception as down:  # noqa: BLE001 — the rest of the batch waits
                        rest = batch.messages[index + 1 :]
                        batch.failures += [Failure(n, down, counted=False) for n, _m in rest]
                        batch.server_down = True
                        return batch
            else:
                batch.accepted.append(notice)
            maybe_closed = False
        healthy = True
        return batch
    except BaseException as error:  # the process told to stop mid-batch, or a fault of ours
        # What the server took is recorded as sent, the rest goes back to the outbox at once.
        done = {n.pk for n in batch.accepted} | {f.notice.pk for f in batch.failures}
        batch.unsent = [n for n, _m in batch.messages if n.pk not in done]
        batch.interrupted = error
        return batch
    finally:
        if lease.pooled is not None:
            batch.mime_seconds, lease.pooled.mime_seconds = lease.pooled.mime_seconds, 0.0
        lease.release(healthy=healthy)
        batch.smtp_seconds = time.perf_counter() - started - batch.mime_seconds


def notice_deliver(
    *,
    notice_ids: Iterable[int] | None = None,
    limit: int = 50,
    timings: dict[str, float] | None = None,
) -> int:
    """Send pending e-mail notices (those given, or every one due); returns how many were sent.

    Batches of `limit` are claimed one at a time, each only once a connection of the pool is
    free for it, and sent by sender threads, up to NOTICE_SMTP_CONNECTIONS batches at once; a
    P0 written meanwhile is in the next batch claimed. Never inside a transaction: each claim
    and each batch's results commit on their own, so a crash leaves at worst the batches in
    flight "sending", resent later with the same Message-ID. `timings`, if given, gathers the
    seconds spent per stage (STAGES; "mime" and "smtp" summed over the sender threads).
    """
    times = timings if timings is not None else {}
    for stage in STAGES:
        times.setdefault(stage, 0.0)
    now = timezone.now()
    ids = list(notice_ids) if notice_ids is not None else None
    if ids is None:
        _release_stale_claims(now, chat=False)
    sent = 0
    deferred: dict[str, Exception] = {}
    in_flight: set[Future[Batch]] = set()
    claiming = True

    def record(batch: Batch) -> int:
        clock = time.perf_counter()
        _record_failures(batch.failures, timezone.now())
        times["record_failures"] += time.perf_counter() - clock
        clock = time.perf_counter()
        accepted = _mark_sent(batch.accepted, timezone.now())
        times["mark_sent"] += time.perf_counter() - clock
        if batch.unsent:
            Notice.objects.filter(
                pk__in=[n.pk for n in batch.unsent], status=Notice.Status.SENDING
            ).update(status=Notice.Status.PENDING)
        times["mime"] += batch.mime_seconds
        times["smtp"] += batch.smtp_seconds
        return accepted

    senders = ThreadPoolExecutor(
        max_workers=max(1, settings.NOTICE_SMTP_CONNECTIONS), thread_name_prefix="notice-smtp"
    )
    finished: list[Batch] = []
    try:
        while True:
            # Claim only with a connection to send on: a claimed batch never waits for one.
            # The lanes are refilled before the batches just finished are recorded, so the
            # connections are busy again while the database takes the results.
            while claiming and (lease := mail_pool.acquire(blocking=not in_flight)):
                clock = time.perf_counter()
                try:
                    claimed = _claim_notices(now=now, ids=ids, limit=limit)
                except BaseException:
                    lease.release()
                    raise
                times["claim"] += time.perf_counter() - clock
                if not claimed:
                    lease.release()
                    claiming = False
                    break
                clock = time.perf_counter()
                try:
                    batch = _batch_rendered(claimed)
                except BaseException:
                    lease.release()
                    raise
                times["render"] += time.perf_counter() - clock
                in_flight.add(senders.submit(_send_batch, batch, lease, deferred))
            interrupted = None
            while finished:
                batch = finished.pop()
                sent += record(batch)
                interrupted = interrupted or batch.interrupted
            if interrupted is not None:
                raise interrupted
            if not in_flight:
                return sent
            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            finished = [future.result() for future in done]
            if any(b.server_down or b.interrupted is not None for b in finished):
                claiming = False
    finally:
        # Leaving on an error: what the batches finished or still in flight did is recorded if
        # it can be; if not, they stay "sending", resent after NOTICE_SENDING_TIMEOUT_SECONDS.
        for future in in_flight:
            with contextlib.suppress(Exception):
                finished.append(future.result())
        for batch in finished:
            with contextlib.suppress(Exception):
                record(batch)
        senders.shutdown(wait=True)


def notice_deliver_chat(*, notice_ids: Iterable[int] | None = None, limit: int = 50) -> int:
    """Post pending channel notices (those given, or every one due); returns how many went.

    Each post is tried on its own: one team's channel being down or rate-limited holds back
    neither the other teams' posts nor any e-mail.
    """
    now = timezone.now()
    ids = list(notice_ids) if notice_ids is not None else None
    if ids is None:
        _release_stale_claims(now, chat=True)
    sent = 0
    while claimed := _claim_notices(now=now, ids=ids, limit=limit, chat=True):
        notices = Notice.objects.filter(pk__in=claimed).select_related("incident", "team")
        for notice in notices:
            try:
                if notice.team is None or not notice.team.has_chat:
                    raise WebhookFailed("the team has no chat channel now", counted=True)
                webhook_post(notice.team.chat_webhook_url, chat_body(notice))
            except WebhookFailed as error:
                log.warning("notice %s to %s failed: %s", notice.pk, notice.recipient, error)
                _mark_failed_attempt(
                    notice,
                    error,
                    timezone.now(),
                    counted=error.counted,
                    retry_after=error.retry_after,
                )
                continue
            _mark_sent([notice], timezone.now())
            sent += 1
        if ids is not None:
            break
    return sent


@transaction.atomic
def notice_retry(*, notices: QuerySet[Notice], actor: AbstractBaseUser) -> int:
    """Put failed notices back in the outbox (a manager's "retry"), each audited; returns how
    many. They are sent after commit, and by the next outbox sweep should that publish fail."""
    require_permission(actor, RETRY_PERMISSION)
    retried = []
    for notice in notices.select_for_update(of=("self",)).filter(status=Notice.Status.FAILED):
        audit_change(
            notice,
            actor=actor,
            changes={
                "status": [Notice.Status.FAILED.value, Notice.Status.PENDING.value],
                "attempts": [notice.attempts, 0],
            },
        )
        retried.append(notice.pk)
    Notice.objects.filter(pk__in=retried).update(
        status=Notice.Status.PENDING, attempts=0, next_attempt_at=None
    )
    Notice.objects.filter(digest__in=retried, status=Notice.Status.FAILED).update(
        status=Notice.Status.PENDING
    )
    notices_send_after_commit(Notice.objects.filter(pk__in=retried).only("pk", "channel"))
    return len(retried)
