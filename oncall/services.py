"""Overrides, swaps and calendar feed links: the one place their rules are checked.

Schedules and layers are plain configuration: one at a time in the admin through
`config.base.record_save`; a whole schedule with its layers and members (configuration as
code) through `schedule_create` / `schedule_update`. Who is on call is `oncall.resolver`'s.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.base import (
    fields_allowed,
    recorded_actor,
    require_permission,
    row_change,
    row_lock,
)

from .models import FeedToken, Layer, LayerMember, Override, Schedule, token_digest

OVERRIDE_PERMISSION = "oncall.add_override"
FEED_PERMISSION = "oncall.add_feedtoken"
FEED_REVOKE_PERMISSION = "oncall.change_feedtoken"
SCHEDULE_FIELDS = ("name", "description", "time_zone")
LAYER_FIELDS = (
    "priority",
    "shift_length",
    "shift_unit",
    "start_date",
    "handoff_time",
    "restrict_weekdays",
    "restrict_from",
    "restrict_until",
)
# An override is a few shifts, never a new rotation.
MAX_OVERRIDE_DAYS = 31


def _check_period(starts_at: datetime | None, ends_at: datetime | None, prefix: str = "") -> None:
    errors = {}
    if starts_at is None:
        errors[f"{prefix}starts_at"] = [_("Give the start.")]
    if ends_at is None:
        errors[f"{prefix}ends_at"] = [_("Give the end.")]
    if not errors and ends_at <= starts_at:
        errors[f"{prefix}ends_at"] = [_("The override must end after it starts.")]
    elif not errors and (ends_at - starts_at).days >= MAX_OVERRIDE_DAYS:
        errors[f"{prefix}ends_at"] = [
            _("An override lasts less than %(days)d days.") % {"days": MAX_OVERRIDE_DAYS}
        ]
    if errors:
        raise ValidationError(errors)


def _check_person(user, field: str = "user") -> None:
    if user is None or not user.is_active:
        raise ValidationError({field: [_("Name an active person.")]})


def check_override(*, user, starts_at: datetime | None, ends_at: datetime | None) -> None:
    """An override's person and period, or a ValidationError naming what is wrong."""
    _check_person(user)
    _check_period(starts_at, ends_at)


@transaction.atomic
def override_create(
    *,
    schedule: Schedule,
    user: AbstractBaseUser,
    starts_at: datetime,
    ends_at: datetime,
    actor: AbstractBaseUser | AnonymousUser,
    reason: str = "",
) -> Override:
    """`user` takes `starts_at`–`ends_at` from whoever holds it (a later override wins over
    an earlier one)."""
    require_permission(actor, OVERRIDE_PERMISSION)
    check_override(user=user, starts_at=starts_at, ends_at=ends_at)
    row_lock(schedule)
    override = Override(
        schedule=schedule,
        user=user,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=(reason or "").strip()[:200],
        created_by=recorded_actor(actor),
    )
    override.full_clean()
    override.save()
    return override


@transaction.atomic
def swap_create(
    *,
    schedule: Schedule,
    first: tuple[AbstractBaseUser, datetime, datetime],
    second: tuple[AbstractBaseUser, datetime, datetime],
    actor: AbstractBaseUser | AnonymousUser,
    reason: str = "",
) -> tuple[Override, Override]:
    """Two people trade shifts: each (person, from, until) is that person's shift, which the
    other takes. Stored as two overrides sharing one swap id, so either is seen and removed
    like any override."""
    require_permission(actor, OVERRIDE_PERMISSION)
    (a, a_start, a_end), (b, b_start, b_end) = first, second
    _check_person(a, "first")
    _check_person(b, "second")
    if a.pk == b.pk:
        raise ValidationError({"second": [_("A swap is between two people.")]})
    _check_period(a_start, a_end, "first.")
    _check_period(b_start, b_end, "second.")
    if a_start < b_end and b_start < a_end:
        raise ValidationError({"second": [_("The two shifts overlap.")]})
    swap = Override.new_swap()
    made = []
    for taker, start, end in ((b, a_start, a_end), (a, b_start, b_end)):
        override = override_create(
            schedule=schedule, user=taker, starts_at=start, ends_at=end, actor=actor, reason=reason
        )
        override.swap = swap
        override.save(update_fields=["swap"])
        made.append(override)
    return made[0], made[1]


@transaction.atomic
def feed_token_create(
    *,
    schedule: Schedule | None,
    actor: AbstractBaseUser | AnonymousUser,
    label: str = "",
    person: AbstractBaseUser | None = None,
) -> tuple[FeedToken, str]:
    """A new secret calendar address for `schedule` (or only `person`'s shifts on it), or
    with no schedule `person`'s own: their shifts on every schedule. The token is returned
    once; only its digest is stored."""
    require_permission(actor, FEED_PERMISSION)
    if schedule is None and person is None:
        raise ValidationError({"person": [_("Name a schedule, a person, or both.")]})
    if person is not None:
        _check_person(person, "person")
    token = secrets.token_urlsafe(32)
    feed = FeedToken.objects.create(
        schedule=schedule,
        person=person,
        label=(label or "").strip()[:100],
        digest=token_digest(token),
        created_by=recorded_actor(actor),
    )
    return feed, token


@transaction.atomic
def feed_token_revoke(*, feed: FeedToken, actor: AbstractBaseUser | AnonymousUser) -> FeedToken:
    """The address stops answering (404) at once; a new one is a new token."""
    require_permission(actor, FEED_REVOKE_PERMISSION)
    feed = row_lock(feed)
    if feed.revoked_at is None:
        feed.revoked_at = timezone.now()
        feed.save(update_fields=["revoked_at"])
    return feed


def feed_find(token: str) -> FeedToken | None:
    """The live feed a token opens, or None (unknown or revoked: the same 404)."""
    if not token or len(token) > 100:
        return None
    return (
        FeedToken.objects.select_related("schedule", "person")
        .filter(digest=token_digest(token), revoked_at__isnull=True)
        .first()
    )


def person_by_username(username: str):
    return get_user_model().objects.filter(username=username, is_active=True).first()


@dataclass(frozen=True)
class LayerSpec:
    """A layer as a manager describes it; it is known by its name within the schedule."""

    name: str
    start_date: date
    handoff_time: time
    priority: int = 1
    shift_length: int = 1
    shift_unit: str = Layer.Unit.WEEKS
    restrict_weekdays: list[int] = field(default_factory=list)
    restrict_from: time | None = None
    restrict_until: time | None = None
    members: Sequence[AbstractBaseUser] = ()


def _prefixed(error: ValidationError, prefix: str) -> ValidationError:
    if hasattr(error, "error_dict"):
        return ValidationError(
            {
                prefix if name == "__all__" else f"{prefix}.{name}": messages
                for name, messages in error.message_dict.items()
            }
        )
    return ValidationError({prefix: error.messages})


def _layers_set(
    schedule: Schedule, layers: Sequence[LayerSpec], actor: AbstractBaseUser | AnonymousUser
) -> None:
    """Make the schedule's layers these, by name, writing only what differs, so that the
    audit log shows what changed rather than every layer deleted and created again."""
    names = [spec.name for spec in layers]
    if len(set(names)) != len(names):
        raise ValidationError({"layers": [_("Each layer of a schedule has its own name.")]})
    existing = {layer.name: layer for layer in schedule.layers.prefetch_related("members")}
    for n, spec in enumerate(layers):
        layer = existing.pop(spec.name, None)
        wanted = {name: getattr(spec, name) for name in LAYER_FIELDS}
        if layer is None:
            require_permission(actor, "oncall.add_layer")
            layer = Layer(schedule=schedule, name=spec.name)
        elif any(getattr(layer, name) != value for name, value in wanted.items()):
            require_permission(actor, "oncall.change_layer")
        else:
            wanted = {}
        if wanted or layer.pk is None:
            for name, value in wanted.items():
                setattr(layer, name, value)
            try:
                layer.full_clean(exclude=["schedule"])
            except ValidationError as error:
                raise _prefixed(error, f"layers[{n}]") from None
            layer.save()
        members = sorted(layer.members.all(), key=lambda m: (m.position, m.pk))
        if [m.user_id for m in members] != [user.pk for user in spec.members]:
            require_permission(actor, "oncall.change_layer")
            for member in members:
                member.delete()
            for position, user in enumerate(spec.members):
                LayerMember.objects.create(layer=layer, user=user, position=position)
    for layer in existing.values():
        require_permission(actor, "oncall.delete_layer")
        layer.delete()


@transaction.atomic
def schedule_create(
    *,
    actor: AbstractBaseUser | AnonymousUser,
    layers: Sequence[LayerSpec] = (),
    **fields: Any,
) -> Schedule:
    """A schedule with its layers and their members, in rotation order."""
    require_permission(actor, "oncall.add_schedule")
    schedule = Schedule(**fields_allowed(SCHEDULE_FIELDS, fields))
    schedule.full_clean()
    schedule.save()
    _layers_set(schedule, layers, actor)
    return schedule


@transaction.atomic
def schedule_update(
    *,
    schedule: Schedule,
    actor: AbstractBaseUser | AnonymousUser,
    layers: Sequence[LayerSpec] | None = None,
    **fields: Any,
) -> Schedule:
    """Change a schedule and (when given) its layers; overrides and calendar links stay."""
    require_permission(actor, "oncall.change_schedule")
    schedule = row_change(schedule, fields_allowed(SCHEDULE_FIELDS, fields))
    if layers is not None:
        _layers_set(schedule, layers, actor)
    return schedule


@transaction.atomic
def schedule_delete(*, schedule: Schedule, actor: AbstractBaseUser | AnonymousUser) -> None:
    """Its layers, overrides and calendar links go with it; escalation levels lose the link."""
    require_permission(actor, "oncall.delete_schedule")
    schedule.delete()
