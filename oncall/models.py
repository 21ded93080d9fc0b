"""Schedules: who is on call, as data. `oncall.resolver` is the one code that reads them."""

from __future__ import annotations

import hashlib
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


def validate_time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_("Unknown time zone: %(v)s") % {"v": value}) from None


def validate_weekdays(value) -> None:
    if not isinstance(value, list) or not all(
        isinstance(day, int) and not isinstance(day, bool) and 0 <= day <= 6 for day in value
    ):
        raise ValidationError(_("A list of weekdays, 0 (Monday) to 6 (Sunday)."))


class Schedule(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default="Asia/Tokyo",
        validators=[validate_time_zone],
        help_text=_("Hand-offs and restrictions are wall-clock times in this zone."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("schedule")
        verbose_name_plural = _("schedules")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


class Layer(models.Model):
    """A rotation of people; where several layers have someone, the highest priority wins."""

    class Unit(models.TextChoices):
        HOURS = "hours", _("hours")
        DAYS = "days", _("days")
        WEEKS = "weeks", _("weeks")

    schedule = models.ForeignKey(
        Schedule, on_delete=models.CASCADE, related_name="layers", verbose_name=_("schedule")
    )
    name = models.CharField(_("name"), max_length=100)
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=1, help_text=_("The higher wins where layers overlap.")
    )
    shift_length = models.PositiveSmallIntegerField(
        _("shift length"), default=1, validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    shift_unit = models.CharField(
        _("shift unit"), max_length=8, choices=Unit.choices, default=Unit.WEEKS
    )
    start_date = models.DateField(_("start date"), help_text=_("The first shift begins then."))
    handoff_time = models.TimeField(
        _("hand-off time"), help_text=_("Wall-clock time in the schedule's zone.")
    )
    restrict_weekdays = models.JSONField(
        _("only on weekdays"),
        default=list,
        blank=True,
        validators=[validate_weekdays],
        help_text=_("0 = Monday … 6 = Sunday; empty: every day. [5, 6]: weekends."),
    )
    restrict_from = models.TimeField(
        _("only from"),
        null=True,
        blank=True,
        help_text=_("With 'only until': 09:00–18:00 office hours, 18:00–09:00 nights."),
    )
    restrict_until = models.TimeField(_("only until"), null=True, blank=True)

    class Meta:
        verbose_name = _("layer")
        verbose_name_plural = _("layers")
        ordering = ["schedule", "-priority", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "name"], name="one_layer_name_per_schedule")
        ]

    def __str__(self) -> str:
        return f"{self.schedule} / {self.name}"

    def clean(self):
        if (self.restrict_from is None) != (self.restrict_until is None):
            raise ValidationError({"restrict_until": _("Give both restriction times, or neither.")})
        if self.restrict_from is not None and self.restrict_from == self.restrict_until:
            raise ValidationError(
                {"restrict_until": _("The restriction must not start and end at once.")}
            )


class LayerMember(models.Model):
    layer = models.ForeignKey(
        Layer, on_delete=models.CASCADE, related_name="members", verbose_name=_("layer")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("person"),
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("layer member")
        verbose_name_plural = _("layer members")
        ordering = ["layer", "position", "pk"]

    def __str__(self) -> str:
        return f"{self.layer}: {self.user}"


class Override(models.Model):
    """A person takes a period from whoever holds it. A swap is two overrides sharing
    `swap`: each person takes the other's shift."""

    schedule = models.ForeignKey(
        Schedule, on_delete=models.CASCADE, related_name="overrides", verbose_name=_("schedule")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("person"),
    )
    starts_at = models.DateTimeField(_("from"))
    ends_at = models.DateTimeField(_("until"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    swap = models.UUIDField(_("swap"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("override")
        verbose_name_plural = _("overrides")
        ordering = ["schedule", "starts_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="override_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.schedule}: {self.user} {self.starts_at:%Y-%m-%d %H:%M}"

    def clean(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("The override must end after it starts.")})

    @staticmethod
    def new_swap() -> uuid.UUID:
        return uuid.uuid4()


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class FeedToken(models.Model):
    """The secret in an iCal address, stored hashed; revoked, the address is a 404. A schedule's
    feed (only `person`'s shifts on it, if set), or without a schedule a person's own feed:
    their shifts on every schedule."""

    schedule = models.ForeignKey(
        Schedule,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="feed_tokens",
        verbose_name=_("schedule"),
        help_text=_("Empty: the person's shifts on every schedule."),
    )
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("only the shifts of"),
    )
    label = models.CharField(_("label"), max_length=100, blank=True)
    digest = models.CharField(_("digest"), max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")
        ordering = ["schedule", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(schedule__isnull=False) | Q(person__isnull=False),
                name="feed_token_has_schedule_or_person",
            )
        ]

    def __str__(self) -> str:
        return f"{self.schedule or self.person}: {self.label or self.pk}"


class Handoff(models.Model):
    """A shift's start, noticed once: the row the hand-off sweep claims, unique per
    (schedule, person, start), so two sweeps never write the person's notice twice."""

    schedule = models.ForeignKey(
        Schedule, on_delete=models.CASCADE, related_name="handoffs", verbose_name=_("schedule")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("person"),
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    notice = models.ForeignKey(
        "notices.Notice",
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("notice"),
        null=True,
        blank=True,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("hand-off")
        verbose_name_plural = _("hand-offs")
        ordering = ["-starts_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "user", "starts_at"], name="one_handoff_per_shift_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.schedule}: {self.user} {self.starts_at:%Y-%m-%d %H:%M}"
