"""Checklists: the runbook's procedures as templates, and runs of them (per incident or period)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from config.base import JST


def localized(obj, field: str) -> str:
    """`field_ja` or `field_en` for the active language; Japanese when English is empty."""
    if (get_language() or "ja").startswith("en"):
        return getattr(obj, f"{field}_en") or getattr(obj, f"{field}_ja")
    return getattr(obj, f"{field}_ja") or getattr(obj, f"{field}_en")


class Kind(models.TextChoices):
    INCIDENT = "incident", _("Incident response")
    SECURITY_INCIDENT = "security_incident", _("Security incident")
    RELEASE = "release", _("Release")
    EMERGENCY_DEPLOY = "emergency_deploy", _("Emergency deploy")
    ROLLBACK = "rollback", _("Rollback")
    MIGRATION = "migration", _("Migration")
    SECURITY_AUDIT = "security_audit", _("Security audit")
    DAILY = "daily", _("Daily maintenance")
    WEEKLY = "weekly", _("Weekly maintenance")
    MONTHLY = "monthly", _("Monthly maintenance")


INCIDENT_KINDS = [Kind.INCIDENT, Kind.SECURITY_INCIDENT]
RECURRING_KINDS = [Kind.DAILY, Kind.WEEKLY, Kind.MONTHLY]


def period_bounds(kind: str, at: datetime) -> tuple[datetime, datetime]:
    """The JST day, Monday-to-Sunday week or calendar month containing `at`: [start, end)."""
    local = at.astimezone(JST)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if kind == Kind.DAILY:
        start, end = day, day + timedelta(days=1)
    elif kind == Kind.WEEKLY:
        start = day - timedelta(days=local.weekday())
        end = start + timedelta(days=7)
    elif kind == Kind.MONTHLY:
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"{kind} is not a recurring kind")
    # Rebuild through the zone so the offset is right on both sides (no DST in Japan, but cheap).
    return (
        datetime(start.year, start.month, start.day, tzinfo=JST),
        datetime(end.year, end.month, end.day, tzinfo=JST),
    )


class ChecklistTemplate(models.Model):
    """A procedure of the runbook; edited by managers, copied into runs."""

    key = models.SlugField(_("key"), max_length=64, unique=True)
    name_ja = models.CharField(_("name (Japanese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    source = models.CharField(
        _("runbook section"), max_length=200, blank=True, help_text=_("Where the runbook says so.")
    )
    severities = models.JSONField(
        _("attach to severities"),
        default=list,
        blank=True,
        help_text=_('Incident kinds only: e.g. ["P0", "P1"]; empty for every severity.'),
    )
    categories = models.JSONField(
        _("attach to categories"),
        default=list,
        blank=True,
        help_text=_('Incident kinds only: e.g. ["security"]; empty for every category.'),
    )
    schedule = models.ForeignKey(
        "django_celery_beat.PeriodicTask",
        verbose_name=_("schedule"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Recurring kinds: the beat task that creates the runs."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("checklist template")
        verbose_name_plural = _("checklist templates")
        ordering = ["kind", "key"]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return localized(self, "name")

    @property
    def is_recurring(self) -> bool:
        return self.kind in RECURRING_KINDS

    def applies_to(self, incident) -> bool:
        if not self.is_active or self.kind not in INCIDENT_KINDS:
            return False
        if self.severities and incident.severity not in self.severities:
            return False
        return not self.categories or incident.category in self.categories


class CommandLanguage(models.TextChoices):
    SHELL = "bash", _("Shell")
    SQL = "sql", _("SQL")


class ItemContent(models.Model):
    """What a template item says; a run item keeps its own copy."""

    position = models.PositiveSmallIntegerField(_("position"), default=0)
    text_ja = models.CharField(_("text (Japanese)"), max_length=300)
    text_en = models.CharField(_("text (English)"), max_length=300, blank=True)
    required = models.BooleanField(_("required"), default=True)
    command = models.TextField(_("command or SQL"), blank=True)
    command_language = models.CharField(
        _("command language"), max_length=8, choices=CommandLanguage.choices, blank=True
    )
    help_ja = models.TextField(_("help (Japanese)"), blank=True)
    help_en = models.TextField(_("help (English)"), blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        return localized(self, "text")

    @property
    def help(self) -> str:
        return localized(self, "help")


CONTENT_FIELDS = [
    "position",
    "text_ja",
    "text_en",
    "required",
    "command",
    "command_language",
    "help_ja",
    "help_en",
]


class TemplateItem(ItemContent):
    template = models.ForeignKey(
        ChecklistTemplate,
        on_delete=models.CASCADE,
        related_name="items",
        verbose_name=_("template"),
    )

    class Meta:
        verbose_name = _("template item")
        verbose_name_plural = _("template items")
        ordering = ["template_id", "position", "pk"]


class ChecklistRun(models.Model):
    """One use of a template: for an incident, or for a maintenance period."""

    template = models.ForeignKey(
        ChecklistTemplate,
        on_delete=models.PROTECT,
        related_name="runs",
        verbose_name=_("template"),
    )
    # Snapshot: renaming a template later does not rewrite what was done.
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices, db_index=True)
    name_ja = models.CharField(_("name (Japanese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    incident = models.ForeignKey(
        "incidents.Incident",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="checklist_runs",
        verbose_name=_("incident"),
    )
    period_start = models.DateTimeField(_("period start"), null=True, blank=True)
    due_at = models.DateTimeField(_("due at"), null=True, blank=True, db_index=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    overdue_notified_at = models.DateTimeField(_("overdue notice sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("checklist run")
        verbose_name_plural = _("checklist runs")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "period_start"],
                condition=Q(period_start__isnull=False),
                name="one_run_per_template_period",
            ),
            models.UniqueConstraint(
                fields=["template", "incident"],
                condition=Q(incident__isnull=False),
                name="one_run_per_template_incident",
            ),
        ]
        indexes = [
            # The overdue sweeper's candidates only.
            models.Index(
                fields=["due_at"],
                condition=Q(completed_at__isnull=True, overdue_notified_at__isnull=True),
                name="checklist_run_overdue_due",
            )
        ]

    def __str__(self) -> str:
        if self.incident_id:
            return f"{self.name} (INC-{self.incident_id})"
        if self.period_start:
            return f"{self.name} {self.period_start.astimezone(JST):%Y-%m-%d}"
        return self.name

    @property
    def name(self) -> str:
        return localized(self, "name")

    def is_overdue(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.completed_at is None and self.due_at is not None and self.due_at <= now

    @staticmethod
    def overdue_q(now: datetime) -> Q:
        """`is_overdue` as a query condition (admin and API filters, the overdue sweep)."""
        return Q(completed_at__isnull=True, due_at__lte=now)

    def get_admin_url(self) -> str:
        return reverse("admin:checklists_checklistrun_change", args=[self.pk])

    def is_closed(self, now: datetime | None = None) -> bool:
        """Closed runs are history: their incident is closed, or their period ended complete."""
        if self.incident_id:
            return self.incident.is_finished
        now = now or timezone.now()
        return self.completed_at is not None and self.due_at is not None and self.due_at <= now

    def progress(self) -> tuple[int, int]:
        """(resolved, total) over every item, done or skipped counting as resolved."""
        items = list(self.items.all())
        return sum(1 for i in items if i.status != RunItem.Status.OPEN), len(items)

    def missing_required(self) -> list[RunItem]:
        return [i for i in self.items.all() if i.required and i.status == RunItem.Status.OPEN]


class RunItem(ItemContent):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        SKIPPED = "skipped", _("Skipped")

    run = models.ForeignKey(
        ChecklistRun, on_delete=models.CASCADE, related_name="items", verbose_name=_("run")
    )
    template_item = models.ForeignKey(
        TemplateItem,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("template item"),
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.OPEN
    )
    skip_reason = models.TextField(_("skip reason"), blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    at = models.DateTimeField(_("at"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("checklist item")
        verbose_name_plural = _("checklist items")
        ordering = ["run_id", "position", "pk"]
        permissions = [("tick_runitem", _("Can tick, untick or skip a checklist item"))]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="skipped") | ~Q(skip_reason=""),
                name="skipped_item_has_reason",
            )
        ]


class KnownProblem(models.Model):
    """よくある問題と解決法: a symptom responders have seen before, and what fixed it."""

    key = models.SlugField(_("key"), max_length=64, unique=True)
    title_ja = models.CharField(_("title (Japanese)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True)
    symptom_ja = models.TextField(_("symptom (Japanese)"))
    symptom_en = models.TextField(_("symptom (English)"), blank=True)
    causes_ja = models.TextField(_("causes (Japanese)"), blank=True)
    causes_en = models.TextField(_("causes (English)"), blank=True)
    resolution_ja = models.TextField(_("resolution steps (Japanese)"), blank=True)
    resolution_en = models.TextField(_("resolution steps (English)"), blank=True)
    keywords = models.TextField(
        _("keywords"),
        blank=True,
        help_text=_("Comma-separated words or phrases, in Japanese and English, to match on."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("known problem")
        verbose_name_plural = _("known problems")
        ordering = ["key"]

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        return localized(self, "title")

    @property
    def resolution(self) -> str:
        return localized(self, "resolution")

    def keyword_list(self) -> list[str]:
        return [k.strip() for k in self.keywords.replace("\n", ",").split(",") if k.strip()]
