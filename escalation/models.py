"""Escalation: the runbook's 報告フロー as data, and the rules that read it.

A policy is frozen onto an incident at declaration (`policy_snapshot`), so the plan
functions here read snapshots only: a manager editing a policy never changes an
escalation under way, and the dry run computes exactly what the sweeper will do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, validate_email
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Language, notice_language
from incidents.models import ACTIVE_STATES, Category, Incident, Severity, State
from notices.models import Delivery
from notices.webhooks import validate_webhook_url
from oncall.models import Schedule
from oncall.resolver import oncall_at

MAX_LEVEL = 4


def severity_reaches(severity: str, minimum: str | None) -> bool:
    """P0 is the most serious: P1 reaches a minimum of P2, P3 does not."""
    return minimum is None or Severity(severity).rank <= Severity(minimum).rank


def person_recipient(user, default_language: str = "ja") -> dict[str, str] | None:
    """A user as a notice recipient; None when they cannot receive mail."""
    if not (user.is_active and user.email):
        return None
    name = user.get_full_name() or user.get_username()
    return {
        "address": user.email,
        "name": name,
        "language": notice_language(user, default=default_language),
    }


class ChatKind(models.TextChoices):
    SLACK = "slack", "Slack"
    MATTERMOST = "mattermost", "Mattermost"
    TEAMS = "teams", "Microsoft Teams"


class Team(models.Model):
    name = models.SlugField(_("name"), max_length=50, unique=True)
    name_ja = models.CharField(_("name (Japanese)"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=100)
    email = models.EmailField(_("e-mail address"), blank=True)
    language = models.CharField(
        _("language of notices"), max_length=2, choices=Language.choices, default=Language.JA
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("members"), blank=True, related_name="teams"
    )
    chat_kind = models.CharField(_("chat"), max_length=16, choices=ChatKind.choices, blank=True)
    # A secret: whoever has it posts to the channel. Never shown back, masked in the audit log.
    chat_webhook_url = models.URLField(
        _("chat webhook URL"),
        max_length=500,
        blank=True,
        help_text=_(
            "Incoming webhook of the team's channel (Slack, Mattermost, or a Teams Workflows "
            "webhook); escalations that reach the team are posted there."
        ),
    )

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name_ja} / {self.name_en}"

    def clean(self):
        if bool(self.chat_kind) != bool(self.chat_webhook_url):
            raise ValidationError(
                {"chat_webhook_url": _("Give both the chat and its webhook URL, or neither.")}
            )
        try:
            validate_webhook_url(self.chat_webhook_url)
        except ValidationError as error:
            raise ValidationError({"chat_webhook_url": error.messages}) from None

    @property
    def has_chat(self) -> bool:
        return bool(self.chat_kind and self.chat_webhook_url)

    def recipients(self) -> list[dict[str, str]]:
        """The team's address, then each member with an address; members read their own
        language when they chose one, the team's otherwise."""
        found = []
        if self.email:
            found.append({"address": self.email, "name": self.name_ja, "language": self.language})
        # .all() and filtering here use the policy snapshot's prefetch instead of a query a team.
        members = sorted(self.members.all(), key=lambda user: user.pk)
        people = (person_recipient(user, self.language) for user in members)
        return found + [person for person in people if person]


class StopOn(models.TextChoices):
    RESOLVED = "resolved", _("Resolved")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")


class EscalationPolicy(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    is_default = models.BooleanField(
        _("default"), default=False, help_text=_("Used when no other policy applies.")
    )
    stop_on = models.CharField(
        _("stop when"),
        max_length=16,
        choices=StopOn.choices,
        default=StopOn.RESOLVED,
        help_text=_("Escalation stops once the incident is acknowledged or resolved."),
    )
    severities = models.JSONField(
        _("severities"), default=list, blank=True, help_text=_("Empty: every severity.")
    )
    categories = models.JSONField(
        _("categories"), default=list, blank=True, help_text=_("Empty: every category.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("escalation policy")
        verbose_name_plural = _("escalation policies")
        ordering = ["-is_default", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_policy"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        errors = {}
        if bad := [s for s in self.severities or [] if s not in Severity.values]:
            errors["severities"] = _("Unknown severities: %(v)s") % {"v": ", ".join(map(str, bad))}
        if bad := [c for c in self.categories or [] if c not in Category.values]:
            errors["categories"] = _("Unknown categories: %(v)s") % {"v": ", ".join(map(str, bad))}
        if errors:
            raise ValidationError(errors)

    def applies_to(self, *, severity: str, category: str) -> bool:
        return (not self.severities or severity in self.severities) and (
            not self.categories or category in self.categories
        )

    @property
    def specificity(self) -> int:
        return bool(self.severities) + bool(self.categories)

    def unreached_levels(self, snapshot: dict[str, Any] | None = None) -> list[int]:
        """Levels that would notify nobody now (no team address, member or extra address):
        an escalation that silently reaches no one is the failure this app exists to prevent."""
        levels = (snapshot or self.snapshot())["levels"]
        return [
            level["number"]
            for level in levels
            if not level["recipients"] and not level.get("channels")
        ]

    def snapshot(self, *, at: datetime | None = None) -> dict[str, Any]:
        """The policy as it is at `at` (now), recipients resolved, whoever is on call on its
        levels' schedules included: what an incident escalates by."""
        levels = self.levels.prefetch_related(
            "teams__members__profile", "users__profile", "schedules"
        ).order_by("number")
        at = at or timezone.now()
        return {
            "policy_id": self.pk,
            "name": self.name,
            "stop_on": self.stop_on,
            "levels": [level.snapshot(at=at) for level in levels],
        }


def validate_emails(value):
    if not isinstance(value, list):
        raise ValidationError(_("A list of e-mail addresses."))
    for address in value:
        if not isinstance(address, str):
            raise ValidationError(_("A list of e-mail addresses."))
        validate_email(address)


class EscalationLevel(models.Model):
    policy = models.ForeignKey(
        EscalationPolicy, on_delete=models.CASCADE, related_name="levels", verbose_name=_("policy")
    )
    number = models.PositiveSmallIntegerField(
        _("level"), validators=[MinValueValidator(1), MaxValueValidator(MAX_LEVEL)]
    )
    name = models.CharField(_("name"), max_length=100)
    delay = models.DurationField(
        _("delay after detection"), help_text=_("Fires this long after detection, if unresolved.")
    )
    min_severity = models.CharField(
        _("minimum severity"),
        max_length=2,
        choices=Severity.choices,
        blank=True,
        help_text=_("Only incidents at least this serious reach this level; empty: all."),
    )
    emergency_contact = models.BooleanField(
        _("show the 24-hour phone"),
        default=False,
        help_text=_("Notices of this level carry the emergency phone number."),
    )
    teams = models.ManyToManyField(Team, verbose_name=_("teams"), blank=True, related_name="+")
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("users"), blank=True, related_name="+"
    )
    emails = models.JSONField(
        _("extra addresses"), default=list, blank=True, validators=[validate_emails]
    )
    schedules = models.ManyToManyField(
        Schedule,
        verbose_name=_("on call on"),
        blank=True,
        related_name="+",
        help_text=_("Whoever is on call on these schedules when the incident is declared."),
    )

    class Meta:
        verbose_name = _("escalation level")
        verbose_name_plural = _("escalation levels")
        ordering = ["policy", "number"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "number"], name="one_level_number_per_policy")
        ]

    def __str__(self) -> str:
        return f"L{self.number} {self.name}"

    def clean(self):
        if self.delay is not None and self.delay < timedelta(0):
            raise ValidationError({"delay": _("The delay cannot be negative.")})

    def oncall(self, at: datetime) -> list[dict[str, Any]]:
        """Who is on call at `at` on each of the level's schedules (None: a gap)."""
        users = get_user_model()
        found = []
        for schedule in self.schedules.all():
            holder = oncall_at(schedule, at)
            user = users.objects.select_related("profile").filter(pk=holder.user_id).first()
            found.append(
                {
                    "schedule": schedule.name,
                    "schedule_id": schedule.pk,
                    "user": user.get_username() if user else None,
                    "name": (user.get_full_name() or user.get_username()) if user else None,
                    "recipient": person_recipient(user) if user else None,
                }
            )
        return found

    def recipients(
        self, at: datetime | None = None, oncall: list[dict[str, Any]] | None = None
    ) -> list[dict[str, str]]:
        found: list[dict[str, str]] = []
        if oncall is None:
            oncall = self.oncall(at or timezone.now())
        found.extend(entry["recipient"] for entry in oncall if entry["recipient"])
        for team in self.teams.all():
            found.extend(team.recipients())
        found.extend(filter(None, map(person_recipient, self.users.all())))
        for address in self.emails or []:
            found.append({"address": address, "name": "", "language": "ja"})
        unique, seen = [], set()
        for recipient in found:
            if recipient["address"].lower() not in seen:
                seen.add(recipient["address"].lower())
                unique.append(recipient)
        return unique

    def snapshot(self, *, at: datetime | None = None) -> dict[str, Any]:
        oncall = self.oncall(at or timezone.now())
        return {
            "number": self.number,
            "name": self.name,
            "delay_seconds": int(self.delay.total_seconds()),
            "min_severity": self.min_severity or None,
            "emergency_contact": self.emergency_contact,
            "teams": [team.name for team in self.teams.all()],
            "recipients": self.recipients(oncall=oncall),
            # Who was on call on the level's schedules, at declaration: who was paged.
            "oncall": [{k: v for k, v in entry.items() if k != "recipient"} for entry in oncall],
            # Team channels, by team: the webhook itself is a secret read when posting.
            "channels": [
                {
                    "team": team.name,
                    "team_id": team.pk,
                    "kind": team.chat_kind,
                    "language": team.language,
                }
                for team in self.teams.all()
                if team.has_chat
            ],
        }


def check_levels(levels: list[tuple[int, timedelta]]) -> list[str]:
    """Numbers strictly increasing, delays never decreasing: a later level never fires first."""
    problems = []
    ordered = sorted(levels)
    for (n1, d1), (n2, d2) in zip(ordered, ordered[1:], strict=False):
        if n1 == n2:
            problems.append(str(_("Level %(n)d appears twice.") % {"n": n1}))
        elif d2 < d1:
            problems.append(
                str(_("Level %(b)d fires before level %(a)d: delays must not decrease."))
                % {"a": n1, "b": n2}
            )
    return problems


# --- the plan: one code path for real escalations and for the dry run -------------------


@dataclass(frozen=True)
class Step:
    level: dict[str, Any]
    deadline: datetime

    @property
    def number(self) -> int:
        return self.level["number"]


def plan_next(
    snapshot: dict[str, Any],
    *,
    after: int,
    severity: str,
    detected_at: datetime,
    manual: bool = False,
) -> Step | None:
    """The next level after `after` for this severity, with its deadline from detection.

    Deadlines are counted from detection, never from the previous level, so a late level
    never pushes later ones back. By hand, the next level fires whatever its condition.
    """
    for level in snapshot.get("levels", []):
        if level["number"] <= after:
            continue
        if manual or severity_reaches(severity, level["min_severity"]):
            return Step(level, detected_at + timedelta(seconds=level["delay_seconds"]))
    return None


def plan_due(
    snapshot: dict[str, Any], *, after: int, severity: str, detected_at: datetime, now: datetime
) -> tuple[list[Step], Step | None]:
    """Every level due by `now` in order, and the one after them (None: nothing left)."""
    due = []
    while step := plan_next(snapshot, after=after, severity=severity, detected_at=detected_at):
        if step.deadline > now:
            return due, step
        due.append(step)
        after = step.number
    return due, None


def plan_timeline(snapshot: dict[str, Any], *, severity: str, detected_at: datetime) -> list[Step]:
    """The whole plan if nobody resolves the incident (the dry run)."""
    due, _next = plan_due(
        snapshot,
        after=0,
        severity=severity,
        detected_at=detected_at,
        now=datetime.max.replace(tzinfo=detected_at.tzinfo),
    )
    return due


def escalation_stopped(incident: Incident) -> bool:
    """The policy's stop state (runbook: resolved) has been reached."""
    stop_on = (incident.policy_snapshot or {}).get("stop_on", StopOn.RESOLVED)
    if stop_on == StopOn.ACKNOWLEDGED and incident.state != State.DETECTED:
        return True
    return incident.state not in ACTIVE_STATES


class Escalation(models.Model):
    """One level reached by one incident; the unique constraint makes it happen once."""

    class Reason(models.TextChoices):
        DEADLINE = "deadline", _("Deadline passed")
        MANUAL = "manual", _("Escalated by hand")
        SEVERITY = "severity", _("Severity raised")

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="escalations", verbose_name=_("incident")
    )
    level = models.PositiveSmallIntegerField(_("level"))
    name = models.CharField(_("name"), max_length=100)
    deadline = models.DateTimeField(_("deadline"))
    fired_at = models.DateTimeField(_("fired at"), db_index=True)
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    note = models.TextField(_("note"), blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    severity = models.CharField(_("severity"), max_length=2, choices=Severity.choices)
    delivery = models.CharField(_("delivery"), max_length=16, choices=Delivery.choices)
    recipients = models.JSONField(_("recipients"), default=list, blank=True)

    class Meta:
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        ordering = ["incident", "level"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "level"], name="escalate_each_level_once")
        ]

    def __str__(self) -> str:
        return f"{self.incident_id} L{self.level}"

    @property
    def lateness(self) -> timedelta:
        return max(self.fired_at - self.deadline, timedelta(0))
