"""Alerts: the conditions monitoring reported for an incident, and the keys that dedupe them.

An alert is the incident's detection evidence (監視アラート); it belongs to the integration that
sent it and to the incident it opened or joined.
"""

import hashlib
import json

from django.db import models
from django.utils.translation import gettext_lazy as _

from incidents.models import Severity


class Alert(models.Model):
    """One monitored condition (a fingerprint or dedup key) as it fired and resolved."""

    class Status(models.TextChoices):
        FIRING = "firing", _("Firing")
        RESOLVED = "resolved", _("Resolved")

    incident = models.ForeignKey(
        "incidents.Incident",
        on_delete=models.CASCADE,
        related_name="alerts",
        verbose_name=_("incident"),
    )
    integration = models.ForeignKey(
        "integrations.Integration",
        on_delete=models.PROTECT,
        related_name="alerts",
        verbose_name=_("integration"),
    )
    fingerprint = models.CharField(_("fingerprint / dedup key"), max_length=255)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices)
    summary = models.CharField(_("summary"), max_length=1024, blank=True)
    source = models.CharField(_("source"), max_length=255, blank=True)
    severity = models.CharField(_("severity"), max_length=2, choices=Severity.choices)
    labels = models.JSONField(_("labels"), default=dict, blank=True)
    annotations = models.JSONField(_("annotations"), default=dict, blank=True)
    links = models.JSONField(_("links"), default=list, blank=True)
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    raw = models.JSONField(_("raw payload"), default=dict, blank=True)
    first_received_at = models.DateTimeField(_("first received"))
    last_received_at = models.DateTimeField(_("last received"))
    times_received = models.PositiveIntegerField(_("times received"), default=1)
    # The label values as one upper-cased text, without the label names (searching `job` must
    # not find every alert): what search by label reads. Kept by the database on every write
    # of `labels` (migration 0004), whatever the path; never written here.
    label_search = models.TextField(default="", editable=False)

    class Meta:
        db_table = "incidents_alert"  # the table it had while it lived in the incidents app
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["first_received_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "integration", "fingerprint"], name="one_alert_per_fingerprint"
            )
        ]

    def __str__(self) -> str:
        return f"{self.fingerprint} ({self.status})"


class AlertKey(models.Model):
    """While an incident is active, the key its alerts dedupe on; unique, so races open one."""

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(max_length=255)
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="alert_keys"
    )

    class Meta:
        db_table = "incidents_alertkey"
        constraints = [
            models.UniqueConstraint(fields=["integration", "key"], name="one_open_incident_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.key} → INC-{self.incident_id}"


class AlertGroup(models.Model):
    """Alerts of one integration sharing the values of its group-by labels: while its incident
    is active and alerts keep coming within the group window, a new key joins that incident
    instead of opening one. Unique per integration and values, so a race opens one incident."""

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(max_length=64)  # a digest of `labels`: any length of values fits
    labels = models.JSONField(_("labels"), default=dict)
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="alert_groups"
    )
    last_alert_at = models.DateTimeField(_("latest alert"))

    class Meta:
        verbose_name = _("alert group")
        verbose_name_plural = _("alert groups")
        constraints = [
            models.UniqueConstraint(fields=["integration", "key"], name="one_open_group_per_labels")
        ]

    def __str__(self) -> str:
        return f"{self.labels} → INC-{self.incident_id}"

    @staticmethod
    def key_of(labels: dict[str, str]) -> str:
        return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()
