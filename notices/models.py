"""The notice outbox: one message to one recipient, delivered at least once and recognisably
the same when delivered again.

Escalation writes its notices, digests and daily reports here, checklists their overdue
messages; nothing is ever sent inside the transaction that decides to send it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Language
from incidents.models import Severity


class Delivery(models.TextChoices):
    """アラート設定: 即座通知 / 1時間集約 / 日次レポート."""

    IMMEDIATE = "immediate", _("Immediately")
    HOURLY = "hourly", _("Hourly digest")
    DAILY = "daily", _("Daily report")


DELIVERY_BY_SEVERITY = {
    Severity.P0: Delivery.IMMEDIATE,
    Severity.P1: Delivery.IMMEDIATE,
    Severity.P2: Delivery.HOURLY,
    Severity.P3: Delivery.DAILY,
}


def delivery_for(severity: str) -> str:
    return DELIVERY_BY_SEVERITY[Severity(severity)].value


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SLACK = "slack", "Slack"
    MATTERMOST = "mattermost", "Mattermost"
    TEAMS = "teams", "Microsoft Teams"


CHAT_CHANNELS = [Channel.SLACK, Channel.MATTERMOST, Channel.TEAMS]

# Pending and sent itself (Notice.is_sendable): what the outbox's claim may take once due.
CLAIMABLE = Q(status="pending") & (~Q(kind="notice") | Q(delivery=Delivery.IMMEDIATE))


class Notice(models.Model):
    """One message to one recipient: an e-mail to an address, or a post to a team's channel
    (or a digest / report collecting several)."""

    class Kind(models.TextChoices):
        NOTICE = "notice", _("Escalation notice")
        DIGEST = "digest", _("Hourly digest")
        REPORT = "report", _("Daily report")
        MESSAGE = "message", _("Message")
        UPDATE = "update", _("Incident update")
        HANDOFF = "handoff", _("On-call hand-off")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.NOTICE)
    incident = models.ForeignKey(
        "incidents.Incident",
        on_delete=models.CASCADE,
        related_name="notices",
        verbose_name=_("incident"),
        null=True,
        blank=True,
    )
    escalation = models.ForeignKey(
        "escalation.Escalation",
        on_delete=models.CASCADE,
        related_name="notices",
        verbose_name=_("escalation"),
        null=True,
        blank=True,
    )
    # A notice waiting for a digest or report points at it once collected.
    digest = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        related_name="items",
        verbose_name=_("digest"),
        null=True,
        blank=True,
    )
    # An e-mail address; for a channel, the team's name (its webhook is read when posting).
    recipient = models.CharField(_("recipient"), max_length=254)
    recipient_name = models.CharField(_("recipient name"), max_length=200, blank=True)
    team = models.ForeignKey(
        "escalation.Team",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("team"),
        null=True,
        blank=True,
    )
    language = models.CharField(
        _("language"), max_length=2, choices=Language.choices, default=Language.JA
    )
    channel = models.CharField(
        _("channel"), max_length=16, choices=Channel.choices, default=Channel.EMAIL
    )
    delivery = models.CharField(_("delivery"), max_length=16, choices=Delivery.choices)
    period = models.DateTimeField(_("period"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    # The incident's severity, copied so that the outbox's claim reads its order off one index.
    # The database keeps it equal to the incident's (triggers, migration 0004): on insert, on
    # a change of incident, and whenever the incident's severity changes; never set it here.
    severity = models.CharField(  # noqa: DJ001 — NULL: no incident, claimed last (NULLS LAST)
        _("severity"), max_length=2, choices=Severity.choices, null=True, editable=False
    )

    class Meta:
        # The outbox was escalation's before it served checklists too; the table kept its name.
        db_table = "escalation_notice"
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        ordering = ["-created_at", "-pk"]
        permissions = [("retry_notice", _("Can retry failed notices"))]
        constraints = [
            models.UniqueConstraint(
                fields=["escalation", "recipient"],
                condition=Q(escalation__isnull=False),
                name="one_notice_per_recipient_per_escalation",
            ),
            models.UniqueConstraint(
                fields=["kind", "period", "channel", "recipient"],
                condition=Q(period__isnull=False),
                name="one_digest_per_recipient_per_period",
            ),
        ]
        indexes = [
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="notice_outbox",
            ),
            # The claim's order (most severe first, then oldest) over the notices it may take,
            # one index per claimer: a claim reads its batch, not the backlog.
            # Ascending is NULLS LAST in PostgreSQL: notices of no incident last, as claimed.
            models.Index(
                fields=["severity", "id"],
                condition=CLAIMABLE & Q(channel="email"),
                name="notice_claim_email",
            ),
            models.Index(
                fields=["severity", "id"],
                condition=CLAIMABLE & ~Q(channel="email"),
                name="notice_claim_chat",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.recipient} ({self.status})"

    @property
    def is_sendable(self) -> bool:
        """Digest items wait for their digest; everything else is sent itself."""
        return self.kind != self.Kind.NOTICE or self.delivery == Delivery.IMMEDIATE

    @property
    def is_chat(self) -> bool:
        return self.channel != Channel.EMAIL

    @property
    def message_id(self) -> str:
        """Stable per notice: a resend after a crash is recognisably the same message."""
        domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(">") or "hikeshi"
        return f"<hikeshi.{self.kind}.{self.pk}@{domain}>"
