"""Incidents: the runbook's 緊急対応フロー as a state machine, and its timeline."""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models.functions import Concat, Upper
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

# `close` needs the incident's required checklist items done. Checklist models and selectors
# never import this module, so the incident's rule may read them.
from checklists.selectors import incident_missing_items

KEY_PATTERN = re.compile(r"^INC-(\d{1,18})$")


class State(models.TextChoices):
    DETECTED = "detected", _("Detected")
    TRIAGE = "triage", _("Triage")
    INVESTIGATING = "investigating", _("Investigating")
    RECOVERING = "recovering", _("Recovering")
    POSTMORTEM = "postmortem", _("Postmortem")
    CLOSED = "closed", _("Closed")
    DISMISSED = "dismissed", _("Dismissed")


ACTIVE_STATES = [State.DETECTED, State.TRIAGE, State.INVESTIGATING, State.RECOVERING]
# The runbook's "resolved": nothing escalates once an incident is here.
RESOLVED_STATES = [State.POSTMORTEM, State.CLOSED, State.DISMISSED]
# Nothing changes any more: the report is published, or it was a false alarm.
FINISHED_STATES = [State.CLOSED, State.DISMISSED]


class Severity(models.TextChoices):
    P0 = "P0", _("P0 Critical")
    P1 = "P1", _("P1 High")
    P2 = "P2", _("P2 Medium")
    P3 = "P3", _("P3 Low")

    @property
    def meaning(self) -> str:
        return str(SEVERITY_MEANINGS[self])

    @property
    def rank(self) -> int:
        """0 is the most serious, as in the runbook."""
        return int(self.value[1])


SEVERITY_MEANINGS = {
    Severity.P0: _("Whole system down, risk of data loss"),
    Severity.P1: _("Major feature down, many users affected"),
    Severity.P2: _("Part of a feature down, limited impact"),
    Severity.P3: _("Minor problem, no user impact"),
}


class Category(models.TextChoices):
    SYSTEM = "system", _("System")
    SECURITY = "security", _("Security")


class Action(models.TextChoices):
    """The lifecycle actions, in the runbook's order; each is a transition method."""

    ACKNOWLEDGE = "acknowledge", _("Acknowledge")
    INVESTIGATE = "investigate", _("Start investigating")
    RECOVER = "recover", _("Start recovery")
    RESOLVE = "resolve", _("Resolve")
    CLOSE = "close", _("Close")
    DISMISS = "dismiss", _("Dismiss as false alarm")
    REOPEN = "reopen", _("Reopen")


def _ready_to_close(incident: Incident) -> bool:
    return not incident.close_blockers()


class Incident(ConcurrentTransitionMixin, models.Model):
    title = models.CharField(_("title"), max_length=200)
    summary = models.TextField(_("summary"), blank=True)
    impact = models.TextField(_("impact"), blank=True)
    service = models.CharField(_("affected service"), max_length=100, blank=True)
    category = models.CharField(
        _("category"), max_length=16, choices=Category.choices, default=Category.SYSTEM
    )
    severity = models.CharField(_("severity"), max_length=2, choices=Severity.choices)
    state = FSMField(
        _("state"), default=State.DETECTED, choices=State.choices, protected=True, db_index=True
    )
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("commander"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="commanded_incidents",
    )
    root_cause = models.TextField(_("root cause"), blank=True)
    resolution = models.TextField(_("resolution"), blank=True)
    dismiss_reason = models.TextField(_("dismiss reason"), blank=True)
    detected_at = models.DateTimeField(_("detected at"))
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        null=True,
        related_name="declared_incidents",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # Escalation (app `escalation`): the policy chosen at declaration, frozen as a snapshot so
    # that editing the policy never changes an escalation under way.
    policy = models.ForeignKey(
        "escalation.EscalationPolicy",
        verbose_name=_("escalation policy"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="incidents",
    )
    policy_snapshot = models.JSONField(_("escalation plan"), default=dict, blank=True)
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    # The only source of truth for escalation timers; null: nothing left, or stopped.
    next_escalation_at = models.DateTimeField(_("next escalation at"), null=True, blank=True)
    # What search by words reads, kept by the database: a LIKE on one stored text is about a
    # fifth of the same LIKE on upper(title) and on upper(summary), computed for every incident
    # a broad word walks through.
    search_text = models.GeneratedField(
        expression=Upper(
            Concat("title", models.Value("\n"), "summary", output_field=models.TextField())
        ),
        output_field=models.TextField(),
        db_persist=True,
    )

    class Meta:
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        ordering = ["-detected_at", "-pk"]
        indexes = [
            # The lists' order, newest first (read backwards), and `detected_*` ranges: a page
            # is read off it without sorting the matches.
            models.Index(fields=["detected_at", "id"], name="incident_list_order"),
            # The sweeper's query: only incidents with a pending deadline are in it.
            models.Index(
                fields=["next_escalation_at"],
                condition=models.Q(next_escalation_at__isnull=False),
                name="incident_escalation_due",
            ),
        ]
        permissions = [
            ("acknowledge_incident", _("Can acknowledge an incident")),
            ("investigate_incident", _("Can start investigating an incident")),
            ("recover_incident", _("Can start recovery of an incident")),
            ("resolve_incident", _("Can resolve an incident")),
            ("close_incident", _("Can close an incident")),
            ("dismiss_incident", _("Can dismiss an incident as a false alarm")),
            ("reopen_incident", _("Can reopen an incident")),
            ("add_note", _("Can add a note to an incident")),
            ("escalate_incident", _("Can escalate an incident to the next level now")),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.title}"

    @property
    def key(self) -> str:
        return f"INC-{self.pk}" if self.pk else "INC-?"

    @staticmethod
    def pk_from_key(key: str) -> int | None:
        match = KEY_PATTERN.match(key or "")
        return int(match.group(1)) if match else None

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES

    def get_admin_url(self) -> str:
        return reverse("admin:incidents_incident_change", args=[self.pk])

    def get_absolute_admin_url(self) -> str:
        """For links that leave the app (e-mails, API clients)."""
        return settings.SITE_URL + self.get_admin_url()

    @property
    def severity_meaning(self) -> str:
        return Severity(self.severity).meaning

    @property
    def time_to_acknowledge(self) -> timedelta | None:
        return self.acknowledged_at - self.detected_at if self.acknowledged_at else None

    @property
    def time_to_resolve(self) -> timedelta | None:
        return self.resolved_at - self.detected_at if self.resolved_at else None

    def close_blockers(self) -> list[str]:
        """What must be done before `close`, in the order a responder should do it: the root
        cause, the resolution, then each required checklist item still open."""
        missing = []
        if not self.root_cause.strip():
            missing.append("root_cause")
        if not self.resolution.strip():
            missing.append("resolution")
        return missing + incident_missing_items(self)

    def close_blocker_labels(self) -> list[str]:
        names = {f.name: f.verbose_name for f in self._meta.fields}
        return [str(names.get(name, name)) for name in self.close_blockers()]

    # --- the lifecycle: state rules only; services record and schedule -------------

    @transition(
        state,
        source=State.DETECTED,
        target=State.TRIAGE,
        permission="incidents.acknowledge_incident",
        custom={"label": Action.ACKNOWLEDGE.label},
    )
    def acknowledge(self, *, at):
        self.acknowledged_at = at

    @transition(
        state,
        source=State.TRIAGE,
        target=State.INVESTIGATING,
        permission="incidents.investigate_incident",
        custom={"label": Action.INVESTIGATE.label},
    )
    def investigate(self, *, at):
        pass

    @transition(
        state,
        source=State.INVESTIGATING,
        target=State.RECOVERING,
        permission="incidents.recover_incident",
        custom={"label": Action.RECOVER.label},
    )
    def recover(self, *, at):
        pass

    @transition(
        state,
        source=ACTIVE_STATES,
        target=State.POSTMORTEM,
        permission="incidents.resolve_incident",
        custom={"label": Action.RESOLVE.label},
    )
    def resolve(self, *, at):
        self.resolved_at = at

    @transition(
        state,
        source=State.POSTMORTEM,
        target=State.CLOSED,
        permission="incidents.close_incident",
        conditions=[_ready_to_close],
        custom={"label": Action.CLOSE.label},
    )
    def close(self, *, at):
        self.closed_at = at

    @transition(
        state,
        source=[State.DETECTED, State.TRIAGE],
        target=State.DISMISSED,
        permission="incidents.dismiss_incident",
        custom={"label": Action.DISMISS.label, "form": "incidents.forms.DismissForm"},
    )
    def dismiss(self, *, at, reason):
        self.dismiss_reason = reason
        self.closed_at = at

    @transition(
        state,
        source=State.POSTMORTEM,
        target=State.INVESTIGATING,
        permission="incidents.reopen_incident",
        custom={"label": Action.REOPEN.label},
    )
    def reopen(self, *, at):
        self.resolved_at = None


class TimelineEvent(models.Model):
    """Append-only: what happened to an incident, who did it and when."""

    class Kind(models.TextChoices):
        DECLARED = "declared", _("Declared")
        ACKNOWLEDGE = "acknowledge", _("Acknowledged")
        INVESTIGATE = "investigate", _("Investigation started")
        RECOVER = "recover", _("Recovery started")
        RESOLVE = "resolve", _("Resolved")
        CLOSE = "close", _("Closed")
        DISMISS = "dismiss", _("Dismissed")
        REOPEN = "reopen", _("Reopened")
        SEVERITY = "severity", _("Severity changed")
        COMMANDER = "commander", _("Commander changed")
        FIELDS = "fields", _("Details edited")
        NOTE = "note", _("Note")
        ESCALATED = "escalated", _("Escalated")
        NOTICE_SENT = "notice_sent", _("Notice sent")
        NOTICE_FAILED = "notice_failed", _("Notice failed")
        ALERT = "alert", _("Alert received")
        ALERTS_RESOLVED = "alerts_resolved", _("All alerts resolved")
        CHECKLIST_DONE = "checklist_done", _("Checklist item done")
        CHECKLIST_SKIPPED = "checklist_skipped", _("Checklist item skipped")
        CHECKLIST_UNDONE = "checklist_undone", _("Checklist item reopened")
        VENDOR_TICKET_OPENED = "vendor_ticket_opened", _("Vendor ticket opened")
        VENDOR_TICKET_CLOSED = "vendor_ticket_closed", _("Vendor ticket closed")

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="timeline", verbose_name=_("incident")
    )
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    at = models.DateTimeField(_("at"), db_index=True)
    message = models.TextField(_("message"), blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)

    class Meta:
        verbose_name = _("timeline event")
        verbose_name_plural = _("timeline events")
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["incident", "at"])]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.kind} {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise TypeError("timeline events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("timeline events are append-only")


class IdempotencyKey(models.Model):
    """Remembers which incident a client's `Idempotency-Key` created, per client."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="unique_idempotency_key_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.key} → INC-{self.incident_id}"


class Postmortem(models.Model):
    """事後対応: what the responders write after resolving; the report is rendered from it."""

    incident = models.OneToOneField(
        Incident, on_delete=models.CASCADE, related_name="postmortem", verbose_name=_("incident")
    )
    impact_users = models.TextField(_("users affected"), blank=True)
    impact_duration = models.TextField(_("duration of impact"), blank=True)
    impact_data = models.TextField(_("data affected"), blank=True)
    contributing_factors = models.TextField(_("contributing factors"), blank=True)
    lessons_learned = models.TextField(_("lessons learned (教訓)"), blank=True)
    report_path = models.CharField(_("report file"), max_length=300, blank=True)
    report_generated_at = models.DateTimeField(_("report generated at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("postmortem")
        verbose_name_plural = _("postmortems")
        permissions = [("generate_report", _("Can (re)generate a postmortem report"))]

    def __str__(self) -> str:
        return f"{self.incident.key} postmortem"


class ActionItem(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="action_items", verbose_name=_("incident")
    )
    title = models.CharField(_("title"), max_length=300)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="action_items",
    )
    due_date = models.DateField(_("due date"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.OPEN
    )
    link = models.URLField(_("link"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("action item")
        verbose_name_plural = _("action items")
        ordering = ["due_date", "pk"]

    def __str__(self) -> str:
        return self.title
