"""Heartbeats: scheduled jobs checking in. A job that stops pinging fails silently, so its
silence past the expected time and the grace period is what opens the incident.

The rules live on the model, as healthchecks.io keeps them on its check: when the next ping is
expected, when silence becomes a miss (`deadline`, stored, compared with the database's clock)
and the status people see.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from croniter import CroniterBadDateError, croniter
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from config.base import JST
from incidents.models import Severity

MIN_INTERVAL = timedelta(minutes=1)
MAX_PERIOD = timedelta(days=366)
# Writes that only pings and the sweeper make: the heartbeat's state, never edited through the
# API or the admin, and never in the audit log (the settings' audit entry names them too).
PING_FIELDS = [
    "status",
    "deadline",
    "started_at",
    "last_ping_at",
    "last_ping_kind",
    "last_log",
    "last_log_truncated",
    "pings",
    "incident",
]


def validate_cron(value: str) -> None:
    """Five fields, evaluated in Japan time (the runbook's 毎日3:00 AM is JST), and a time
    that comes: "0 0 30 2 *" parses but never runs, and would never be due."""
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValidationError(
            _("Enter a cron expression of five fields, such as “0 3 * * *” (03:00 JST daily).")
        )
    try:
        croniter(value, datetime.now(JST)).get_next(datetime)
    except CroniterBadDateError:
        raise ValidationError(_("This cron expression never comes true.")) from None


class Heartbeat(models.Model):
    class Schedule(models.TextChoices):
        INTERVAL = "interval", _("Every interval")
        CRON = "cron", _("Cron expression (JST)")

    class Status(models.TextChoices):
        NEW = "new", _("Waiting for the first ping")
        UP = "up", _("Up")
        DOWN = "down", _("Down")

    class Kind(models.TextChoices):
        SUCCESS = "success", _("Success")
        START = "start", _("Started")
        FAIL = "fail", _("Failure")

    name = models.SlugField(_("name"), max_length=64, unique=True)
    description = models.CharField(_("description"), max_length=300, blank=True)
    # The ping URL's secret, as in healthchecks.io: whoever knows it may ping, nothing more.
    uuid = models.UUIDField(_("ping key"), default=uuid.uuid4, unique=True, editable=False)
    schedule = models.CharField(
        _("schedule"), max_length=8, choices=Schedule.choices, default=Schedule.CRON
    )
    interval = models.DurationField(
        _("interval"), null=True, blank=True, help_text=_("For “every interval”: e.g. 01:00:00.")
    )
    cron = models.CharField(
        _("cron expression"),
        max_length=100,
        blank=True,
        validators=[validate_cron],
        help_text=_("For “cron”: minute hour day month weekday, in Japan time."),
    )
    grace = models.DurationField(
        _("grace period"),
        default=timedelta(minutes=30),
        help_text=_("How late a ping may be before the silence opens an incident."),
    )
    severity = models.CharField(
        _("severity"), max_length=2, choices=Severity.choices, default=Severity.P2
    )
    policy = models.CharField(
        _("escalation policy"),
        max_length=100,
        blank=True,
        help_text=_("Name of the escalation policy for its incidents; empty: chosen as usual."),
    )
    enabled = models.BooleanField(
        _("enabled"), default=True, help_text=_("A paused heartbeat records pings, never alerts.")
    )
    checklist_item = models.ForeignKey(
        "checklists.TemplateItem",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("checklist item"),
        help_text=_("The checklist item that shows this heartbeat's last ping."),
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.NEW, editable=False
    )
    deadline = models.DateTimeField(
        _("silent after"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Without a ping by then, the heartbeat is missed."),
    )
    started_at = models.DateTimeField(_("run started"), null=True, blank=True, editable=False)
    last_ping_at = models.DateTimeField(_("last ping"), null=True, blank=True, editable=False)
    last_ping_kind = models.CharField(
        _("last ping kind"), max_length=8, choices=Kind.choices, blank=True, editable=False
    )
    last_log = models.TextField(_("last log"), blank=True, editable=False)
    last_log_truncated = models.BooleanField(_("log truncated"), default=False, editable=False)
    pings = models.PositiveIntegerField(_("pings received"), default=0, editable=False)
    incident = models.ForeignKey(
        "incidents.Incident",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        verbose_name=_("last incident"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")
        ordering = ["name"]
        indexes = [
            # The sweeper's question: which enabled heartbeats are silent past their deadline.
            models.Index(
                fields=["deadline"],
                name="heartbeat_due",
                condition=models.Q(enabled=True, deadline__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.schedule == self.Schedule.INTERVAL:
            if self.interval is None:
                errors["interval"] = _("An interval schedule needs an interval.")
            elif not MIN_INTERVAL <= self.interval <= MAX_PERIOD:
                errors["interval"] = _("Between one minute and one year.")
        elif self.schedule == self.Schedule.CRON and not self.cron:
            errors["cron"] = _("A cron schedule needs a cron expression.")
        if self.grace is not None and not timedelta(0) <= self.grace <= MAX_PERIOD:
            errors["grace"] = _("Between zero and one year.")
        if errors:
            raise ValidationError(errors)

    # --- the schedule ---------------------------------------------------------------------

    def expected_after(self, at: datetime) -> datetime:
        """When the next ping is due after `at`: one interval later, or the cron's next JST
        time."""
        if self.schedule == self.Schedule.INTERVAL:
            return at + self.interval
        return croniter(self.cron, at.astimezone(JST)).get_next(datetime)

    def deadline_after(self, at: datetime) -> datetime:
        return self.expected_after(at) + self.grace

    def next_window(self, *, missed: datetime, now: datetime) -> datetime:
        """After a miss: the deadline of the next expected run still ahead of `now`, so that a
        run that stays silent again is noticed (once a sweeper that was down catches up, the
        windows it slept through count as one)."""
        return self.deadline_after(max(missed, now) - self.grace)

    # --- what people see ------------------------------------------------------------------

    def get_status(self, now: datetime) -> str:
        """paused, down, started (a run in progress), late (in its grace period), new or up."""
        if not self.enabled:
            return "paused"
        if self.status == self.Status.DOWN:
            return "down"
        if self.started_at is not None:
            return "started"
        if self.deadline is not None and now > self.deadline - self.grace:
            return "late"
        return self.status

    def schedule_text(self) -> str:
        if self.schedule == self.Schedule.INTERVAL:
            return _("every %(interval)s") % {"interval": self.interval}
        return f"{self.cron} (JST)"

    @property
    def interval_seconds(self) -> int | None:
        return int(self.interval.total_seconds()) if self.interval is not None else None

    @property
    def grace_seconds(self) -> int:
        return int(self.grace.total_seconds())

    def ping_url(self) -> str:
        return f"{settings.SITE_URL}/ping/{self.uuid}"


STATUS_LABELS = {
    "paused": _("Paused"),
    "down": _("Down"),
    "started": _("Running"),
    "late": _("Late (in grace)"),
    "new": _("Waiting for the first ping"),
    "up": _("Up"),
}
