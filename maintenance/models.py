"""Maintenance windows: a planned change (a deploy, a migration) during which the alerts it
makes fire are held on the window's list instead of opening incidents and paging people.

A window names what it covers (a service, or label matchers that must all equal the alert's
labels) and when; P0 alerts still page unless the window says otherwise. When the window
ends, its alerts still firing open their incidents (`alerts.services.held_alerts_release`).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from incidents.models import Severity


class MaintenanceWindow(models.Model):
    """From `starts_at` to `ends_at`, alerts of `service` (or matching `matchers`) are held."""

    service = models.CharField(
        _("service"),
        max_length=100,
        blank=True,
        help_text=_("The service under maintenance, as alerts name it (their service label)."),
    )
    matchers = models.JSONField(
        _("label matchers"),
        default=dict,
        blank=True,
        help_text=_('Labels an alert must all carry, e.g. {"job": "api", "env": "prod"}.'),
    )
    starts_at = models.DateTimeField(_("from"))
    ends_at = models.DateTimeField(_("until"))
    reason = models.CharField(_("reason"), max_length=500)
    pages_p0 = models.BooleanField(
        _("P0 still pages"),
        default=True,
        help_text=_("A P0 alert opens its incident and pages as usual, even in the window."),
    )
    reference = models.CharField(
        _("reference"),
        max_length=200,
        blank=True,
        help_text=_("What the window is for, e.g. the change record that opened it."),
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("opened by"),
    )
    closed_at = models.DateTimeField(_("closed early at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("closed by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("maintenance window")
        verbose_name_plural = _("maintenance windows")
        ordering = ["-starts_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="maintenance_window_ends_after_start"
            )
        ]
        indexes = [models.Index(fields=["ends_at", "starts_at"], name="maintenance_window_time")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.scope_text()}"

    def scope_text(self) -> str:
        """What the window covers, in one line: `payments`, `job=api, env=prod`."""
        labels = ", ".join(f"{name}={value}" for name, value in sorted(self.matchers.items()))
        return " · ".join(part for part in (self.service, labels) if part)

    def covers(self, *, service: str, labels: dict) -> bool:
        """Whether an alert of `service` with `labels` is under this window (time aside)."""
        if self.service and service != self.service:
            return False
        return all(labels.get(name) == value for name, value in self.matchers.items())

    def in_force_at(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.ends_at


class HeldAlert(models.Model):
    """An alert a window held: it opened no incident and paged nobody. Released when the
    window ends: still firing, it opens its incident then; resolved meanwhile, nothing."""

    class Status(models.TextChoices):
        FIRING = "firing", _("Firing")
        RESOLVED = "resolved", _("Resolved")

    window = models.ForeignKey(
        MaintenanceWindow,
        on_delete=models.CASCADE,
        related_name="held_alerts",
        verbose_name=_("maintenance window"),
    )
    integration = models.ForeignKey(
        "integrations.Integration",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("integration"),
    )
    key = models.CharField(_("alert key"), max_length=255)
    fingerprint = models.CharField(_("fingerprint / dedup key"), max_length=255)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices)
    title = models.CharField(_("title"), max_length=200, blank=True)
    summary = models.TextField(_("summary"), blank=True)
    source = models.CharField(_("source"), max_length=255, blank=True)
    service = models.CharField(_("service"), max_length=100, blank=True)
    severity = models.CharField(_("severity"), max_length=2, choices=Severity.choices)
    labels = models.JSONField(_("labels"), default=dict, blank=True)
    annotations = models.JSONField(_("annotations"), default=dict, blank=True)
    links = models.JSONField(_("links"), default=list, blank=True)
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    raw = models.JSONField(_("raw payload"), default=dict, blank=True)
    first_received_at = models.DateTimeField(_("first received"))
    last_received_at = models.DateTimeField(_("last received"))
    times_received = models.PositiveIntegerField(_("times received"), default=1)
    released_at = models.DateTimeField(_("released"), null=True, blank=True)
    incident = models.ForeignKey(
        "incidents.Incident",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("incident opened at release"),
    )

    class Meta:
        verbose_name = _("held alert")
        verbose_name_plural = _("held alerts")
        ordering = ["first_received_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["window", "integration", "fingerprint"], name="one_held_alert_per_window"
            )
        ]
        indexes = [
            # The release sweep reads only what it has not released yet.
            models.Index(
                fields=["window"],
                condition=Q(released_at__isnull=True),
                name="held_alert_unreleased",
            ),
            models.Index(fields=["integration", "fingerprint"], name="held_alert_fingerprint"),
        ]

    def __str__(self) -> str:
        return f"{self.fingerprint} ({self.status})"
