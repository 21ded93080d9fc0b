"""Changes: 変更管理, the deploys, emergency deploys, rollbacks, migrations and configuration
changes made to production, each with its runbook checklist and the incidents it touched."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

KEY_PATTERN = re.compile(r"^CHG-(\d{1,18})$")


class Kind(models.TextChoices):
    RELEASE = "release", _("Release")
    EMERGENCY_DEPLOY = "emergency_deploy", _("Emergency deploy")
    ROLLBACK = "rollback", _("Rollback")
    MIGRATION = "migration", _("Migration")
    CONFIG = "config", _("Configuration change")


class Result(models.TextChoices):
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    ROLLED_BACK = "rolled_back", _("Rolled back")


class Origin(models.TextChoices):
    ADMIN = "admin", _("Admin")
    API = "api", _("API")
    PAGERDUTY = "pagerduty", _("PagerDuty Change Events")


class Change(models.Model):
    """One change to production: what, to which service, which commit, who, when, how it
    ended. Finished changes are written to docs/changes/ as a record a team can trust."""

    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    title = models.CharField(_("title"), max_length=1024)
    summary = models.TextField(_("summary"), blank=True)
    service = models.CharField(_("service"), max_length=100, blank=True, db_index=True)
    version = models.CharField(
        _("commit or version"), max_length=200, blank=True, help_text=_("e.g. a1b2c3d or v1.4.2")
    )
    who = models.CharField(
        _("who"), max_length=150, blank=True, help_text=_("Who made the change, as they call it.")
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="recorded_changes",
    )
    origin = models.CharField(_("recorded through"), max_length=16, choices=Origin.choices)
    source = models.CharField(
        _("source"), max_length=255, blank=True, help_text=_("The pipeline or host it came from.")
    )
    details = models.JSONField(_("details"), default=dict, blank=True)
    links = models.JSONField(
        _("links"), default=list, blank=True, help_text=_('[{"href": "…", "text": "…"}]')
    )
    started_at = models.DateTimeField(_("started at"), db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    result = models.CharField(_("result"), max_length=16, choices=Result.choices, blank=True)
    reverts = models.ForeignKey(
        "self",
        verbose_name=_("reverts"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reverted_by",
        help_text=_("Rollbacks: the change this one undoes."),
    )
    # The link lives here, not on the run: checklists knows incidents and periods only, and a
    # change's run is a plain run whose incident and period are empty.
    checklist_run = models.OneToOneField(
        "checklists.ChecklistRun",
        verbose_name=_("checklist run"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="change",
    )
    # Both directions of one fact: `incident.caused_by` / `incident.fixed_by` read them back.
    caused_incidents = models.ManyToManyField(
        "incidents.Incident",
        verbose_name=_("incidents it caused"),
        blank=True,
        related_name="caused_by",
    )
    fixed_incidents = models.ManyToManyField(
        "incidents.Incident",
        verbose_name=_("incidents it fixed"),
        blank=True,
        related_name="fixed_by",
    )
    record_path = models.CharField(_("record file"), max_length=500, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("change")
        verbose_name_plural = _("changes")
        ordering = ["-started_at", "-pk"]
        permissions = [("finish_change", _("Can finish a change"))]
        indexes = [models.Index(fields=["service", "started_at"], name="change_service_started")]
        constraints = [
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True, result="")
                | Q(finished_at__isnull=False) & ~Q(result=""),
                name="change_finished_has_result",
                violation_error_message=_("A finished change has a result, an open one none."),
            ),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(finished_at__gte=F("started_at")),
                name="change_finishes_after_start",
                violation_error_message=_("A change finishes after it starts."),
            ),
            models.CheckConstraint(
                condition=Q(reverts__isnull=True) | Q(kind="rollback"),
                name="change_only_rollbacks_revert",
                violation_error_message=_("Only a rollback reverts another change."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.title}"

    @property
    def key(self) -> str:
        return f"CHG-{self.pk}"

    @staticmethod
    def pk_from_key(key: str) -> int | None:
        match = KEY_PATTERN.match(key or "")
        return int(match.group(1)) if match else None

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None

    def get_admin_url(self) -> str:
        return reverse("admin:changes_change_change", args=[self.pk])
