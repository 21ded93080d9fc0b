"""1時間集約 and 日次レポート: P2 notices wait for the hourly digest, P3 notices for the daily
report at 09:00 JST; each gathers a recipient's waiting notices into one message of the outbox.

A database constraint allows one digest per recipient and period, so a task that runs twice
sends nothing twice.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.base import JST
from notices.models import Channel, Delivery, Notice
from notices.services import notices_send_after_commit

from ..models import Team
from ..selectors import daily_trend


def _collect(*, kind: str, delivery: str, period: datetime, extra_recipients=()) -> list[int]:
    """Gather waiting notices of `delivery` created before `period` into one per recipient."""
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
        # One digest per recipient and channel: an address, or a team's channel.
        by_recipient: dict[tuple[str, str], list[Notice]] = defaultdict(list)
        for notice in waiting:
            by_recipient[notice.channel, notice.recipient.lower()].append(notice)
        recipients = {key: items[0] for key, items in by_recipient.items()}
        for address, name, language in extra_recipients:
            recipients.setdefault(
                (Channel.EMAIL, address.lower()),
                Notice(recipient=address, recipient_name=name, language=language),
            )
        data = {}
        if kind == Notice.Kind.REPORT:
            data = {"trend": daily_trend(start=period - timedelta(days=1), end=period)}
        for key, first in sorted(recipients.items()):
            digest, new = Notice.objects.get_or_create(
                kind=kind,
                period=period,
                channel=first.channel,
                recipient=first.recipient,
                defaults={
                    "recipient_name": first.recipient_name,
                    "team_id": first.team_id,
                    "language": first.language,
                    "delivery": delivery,
                    "data": data,
                },
            )
            # A digest already out keeps its content; late items wait for the next period.
            items = [n.pk for n in by_recipient.get(key, [])] if digest.status == "pending" else []
            Notice.objects.filter(pk__in=items).update(digest=digest)
            if new or items:
                created.append(digest)
    notices_send_after_commit(created)
    return [digest.pk for digest in created]


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
