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
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import get_connection
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from config.base import audit_change, require_permission, task_after_commit, timeline_record
from incidents.models import Incident, TimelineEvent

from .chat import chat_body
from .emails import notice_message
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
PRIORITY = (
    "(SELECT severity FROM incidents_incident WHERE incidents_incident.id = incident_id)"
    " NULLS LAST, id"
)


def _claim_notices(
    *, now: datetime, ids: list[int] | None, limit: int, chat: bool = False
) -> list[int]:
    """pending → sending, atomically; only the claimer gets a row's id back."""
    table = Notice._meta.db_table
    skip_locked = connection.features.has_select_for_update_skip_locked
    lock = " FOR UPDATE SKIP LOCKED" if skip_locked else ""
    where = (
        "status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= %s)"
        " AND (kind <> 'notice' OR delivery = 'immediate')"  # Notice.is_sendable
        f" AND channel {'<>' if chat else '='} 'email'"
    )
    params: list[object] = [now]
    if ids is not None:
        where += f" AND id IN ({', '.join(['%s'] * len(ids))})"
        params.extend(ids)
    sql = (
        f"UPDATE {table} SET status = 'sending', claimed_at = %s "  # noqa: S608 # nosec B608 # fixed SQL and the model's table name; values are bound parameters
        f"WHERE id IN (SELECT id FROM {table} WHERE {where} ORDER BY {PRIORITY} LIMIT %s{lock}) "
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
        TimelineEvent.objects.bulk_create(events)


def _addressee(notice: Notice) -> str:
    return (
        f"{notice.get_channel_display()}: {notice.recipient}"
        if notice.is_chat
        else (notice.recipient)
    )


def _mark_failed_attempt(
    notice: Notice,
    error: Exception,
    now: datetime,
    *,
    counted: bool,
    retry_after: float | None = None,
) -> None:
    """Retry with backoff; a receiver that refused NOTICE_MAX_ATTEMPTS times fails the notice.
    An unreachable receiver (`counted` False) is waited out; one that asked us to wait
    (`retry_after`, HTTP 429) is tried again no sooner than it asked."""
    unreachable = not counted
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
                        message=f"{_addressee(notice)}: {text}",
                        data={"notice": notice.pk, "kind": notice.kind, "attempts": attempts},
                        at=now,
                    )
            return
        tries = max(attempts, 1) if not unreachable else max(notice.data.get("down", 0) + 1, 1)
        data = notice.data | ({"down": tries} if unreachable else {})
        wait = timedelta(seconds=retry_after) if retry_after is not None else _backoff(tries)
        Notice.objects.filter(pk=notice.pk, status=Notice.Status.SENDING).update(
            status=Notice.Status.PENDING,
            attempts=attempts,
            last_error=text,
            next_attempt_at=now + wait,
            data=data,
        )


def _release_stale_claims(now: datetime, *, chat: bool) -> None:
    """A notice left "sending" that long was claimed by a worker that died mid-send."""
    stale = now - timedelta(seconds=settings.NOTICE_SENDING_TIMEOUT_SECONDS)
    claimed = Notice.objects.filter(status=Notice.Status.SENDING, claimed_at__lt=stale)
    claimed = claimed.exclude(channel=Channel.EMAIL) if chat else claimed.filter(channel="email")
    claimed.update(status=Notice.Status.PENDING)


def notice_deliver(*, notice_ids: Iterable[int] | None = None, limit: int = 50) -> int:
    """Send pending e-mail notices (those given, or every one due); returns how many were sent.

    Never inside a transaction: each claim and each batch of results commits on its own, so a
    crash leaves at worst a batch "sending", resent later with the same Message-ID.
    """
    now = timezone.now()
    ids = list(notice_ids) if notice_ids is not None else None
    if ids is None:
        _release_stale_claims(now, chat=False)
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
                _mark_failed_attempt(notice, error, timezone.now(), counted=False)
            return sent
        accepted: list[Notice] = []
        deferred: dict[str, Exception] = {}  # domain → the "try later" its server answered
        try:
            for notice in notices:
                domain = _domain(notice.recipient)
                if domain in deferred:
                    # Its server asked us to wait: the domain's other notices wait with it (an
                    # attempt each, as if refused) and the batch goes on to the other domains.
                    _mark_failed_attempt(notice, deferred[domain], timezone.now(), counted=True)
                    continue
                try:
                    mail.send_messages([notice_message(notice)])
                except Exception as error:  # noqa: BLE001 — recorded on the notice
                    log.warning("notice %s to %s failed: %s", notice.pk, notice.recipient, error)
                    unreachable = _server_unreachable(error)
                    _mark_failed_attempt(notice, error, timezone.now(), counted=not unreachable)
                    if _try_later(error):
                        deferred[domain] = error
                    if unreachable:
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
