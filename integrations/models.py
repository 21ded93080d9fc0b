"""Integrations: the monitoring systems allowed to open incidents, each with its own secret."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from incidents.models import Severity

DEFAULT_SEVERITY_MAPPING = {
    "critical": Severity.P0.value,
    "error": Severity.P1.value,
    "warning": Severity.P2.value,
    "info": Severity.P3.value,
}


def default_severity_mapping() -> dict[str, str]:
    return dict(DEFAULT_SEVERITY_MAPPING)


def validate_severity_mapping(value) -> None:
    """The same rule for the admin, the API and the command: label value → P0..P3."""
    if not isinstance(value, dict) or any(v not in Severity.values for v in value.values()):
        raise ValidationError(_("Map label values to P0, P1, P2 or P3."))


LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")  # Prometheus's label names
GROUP_WINDOW_LONGEST = timedelta(days=1)


def validate_group_by(value) -> None:
    if (
        not isinstance(value, list)
        or len(value) > 10
        or not all(isinstance(name, str) and LABEL_NAME.match(name) for name in value)
        or len(set(value)) != len(value)
    ):
        raise ValidationError(_("Give up to 10 different label names, such as alertname."))


def validate_group_window(value) -> None:
    if not timedelta(seconds=1) <= value <= GROUP_WINDOW_LONGEST:
        raise ValidationError(_("The group window is from 1 second to 1 day."))


def hash_secret(secret: str) -> str:
    # Secrets are long random strings: a plain digest is enough, and it is what we look up by.
    return hashlib.sha256(secret.encode()).hexdigest()


# Secret digest → (valid until, integration): webhook requests skip the lookup while an
# entry is fresh. Saving or deleting an integration in this process forgets them all at once;
# other processes notice a disabled or replaced secret within INTEGRATION_AUTH_CACHE_SECONDS.
KNOWN_SECRETS: dict[str, tuple[float, Integration]] = {}


class Integration(models.Model):
    class Kind(models.TextChoices):
        ALERTMANAGER = "alertmanager", _("Prometheus Alertmanager")
        PAGERDUTY = "pagerduty", _("PagerDuty Events API v2")
        GRAFANA = "grafana", _("Grafana alerting")
        GENERIC = "generic", _("Generic JSON")

    class Grouping(models.TextChoices):
        GROUP_KEY = "group_key", _("One incident per Alertmanager group")
        FINGERPRINT = "fingerprint", _("One incident per alert fingerprint")

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    secret_hint = models.CharField(_("secret starts with"), max_length=8, editable=False)
    default_severity = models.CharField(
        _("default severity"), max_length=2, choices=Severity.choices, default=Severity.P2
    )
    severity_mapping = models.JSONField(
        _("severity mapping"),
        default=default_severity_mapping,
        validators=[validate_severity_mapping],
        help_text=_("Alert severity label → P0–P3. A `priority: P0..P3` label always wins."),
    )
    grouping = models.CharField(
        _("grouping"), max_length=16, choices=Grouping.choices, default=Grouping.GROUP_KEY
    )
    group_by = models.JSONField(
        _("group by labels"),
        default=list,
        blank=True,
        validators=[validate_group_by],
        help_text=_(
            "Label names, e.g. alertname and cluster: new alerts with the same values join the "
            "incident their group opened, while it is active and within the group window of "
            "the group's latest alert. Empty: every key opens its own incident."
        ),
    )
    group_window = models.DurationField(
        _("group window"),
        default=timedelta(minutes=15),
        validators=[validate_group_window],
        help_text=_("How long after a group's latest alert a new one still joins it."),
    )
    auto_resolve = models.BooleanField(
        _("auto-resolve"),
        default=True,
        help_text=_("Resolve the incident when every one of its alerts has resolved."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    policy = models.CharField(
        _("escalation policy"),
        max_length=100,
        blank=True,
        help_text=_("Name of the escalation policy for its incidents; empty: chosen as usual."),
    )
    hmac_secret_env = models.CharField(
        _("HMAC secret variable"),
        max_length=100,
        blank=True,
        help_text=_(
            "Grafana: name of the environment variable holding the webhook HMAC secret; "
            "when set, the X-Grafana-Alerting-Signature header is required and verified."
        ),
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="integration",
        editable=False,
        help_text=_("The service account whose name appears on the timeline."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("integration")
        verbose_name_plural = _("integrations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        KNOWN_SECRETS.clear()  # a secret replaced or disabled here stops working here at once

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        KNOWN_SECRETS.clear()
        return result

    def group_labels(self, labels: dict) -> dict[str, str] | None:
        """The group-by labels' values an alert's group is known by (a label it lacks counts
        as empty, as in Alertmanager's grouping); None: this integration does not group."""
        if not self.group_by:
            return None
        return {name: str(labels.get(name, "")) for name in self.group_by}

    def clean(self) -> None:
        # Labels are matched lower-cased (`severity_for`), so mapping keys are stored that way.
        if isinstance(self.severity_mapping, dict):
            self.severity_mapping = {str(k).lower(): v for k, v in self.severity_mapping.items()}

    def endpoint_path(self) -> str:
        return {
            self.Kind.ALERTMANAGER: "/api/v1/integrations/alertmanager/",
            self.Kind.PAGERDUTY: "/v2/enqueue",
            self.Kind.GRAFANA: "/api/v1/integrations/grafana/",
            self.Kind.GENERIC: "/api/v1/alerts/",
        }[self.kind]

    def endpoint_url(self) -> str:
        return settings.SITE_URL + self.endpoint_path()

    def severity_for(self, labels: dict) -> str:
        """Runbook level: the `priority` label, else the mapped `severity`, else the default."""
        priority = str(labels.get("priority", "")).upper()
        if priority in Severity.values:
            return priority
        mapped = self.severity_mapping.get(str(labels.get("severity", "")).lower())
        return mapped if mapped in Severity.values else self.default_severity


class AlertDelivery(models.Model):
    """One accepted request, waiting for the alert processor.

    Senders are answered once their payload is stored, so an alert storm never holds them;
    the processor turns deliveries into incident service calls and deletes them in the same
    transaction, so a delivery is neither lost nor applied twice.
    """

    integration = models.ForeignKey(
        Integration,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("integration"),
    )
    body = models.JSONField(_("payload"))
    lane = models.PositiveIntegerField(
        _("lane"),
        default=0,
        help_text=_("Derived from the alert key: deliveries of one lane are applied in order."),
    )
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.TextField(_("last error"), blank=True)
    failed_at = models.DateTimeField(
        _("given up at"),
        null=True,
        blank=True,
        help_text=_("Set after repeated failures; the processor no longer picks it up."),
    )

    class Meta:
        verbose_name = _("alert delivery")
        verbose_name_plural = _("alert deliveries")
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["id"], name="delivery_pending", condition=models.Q(failed_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"{self.integration} #{self.pk}"
