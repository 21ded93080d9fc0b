"""Escalation policies, their levels and teams: choosing a policy for an incident, and the
managers' changes to them (admin and API alike), each checked, validated and audited.

Incidents escalate by the copy frozen at their declaration, so nothing here changes an
escalation under way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from config.base import fields_allowed, require_permission, row_change
from oncall.models import Schedule

from ..models import EscalationLevel, EscalationPolicy, Team, check_levels

log = logging.getLogger(__name__)

POLICY_FIELDS = ("name", "description", "is_default", "stop_on", "severities", "categories")
TEAM_FIELDS = ("name", "name_ja", "name_en", "email", "language", "chat_kind", "chat_webhook_url")


def policy_choose(*, severity: str, category: str, name: str = "") -> EscalationPolicy | None:
    """By name if given; else the most specific policy matching severity and category;
    else the default. None when no policy exists at all (nothing escalates)."""
    if name:
        found = EscalationPolicy.objects.filter(name=name).first()
        if found is not None:
            return found
        log.warning("unknown escalation policy %r; choosing automatically", name)
    policies = list(EscalationPolicy.objects.order_by("name"))  # a handful: one query
    candidates = [
        p
        for p in policies
        if not p.is_default
        and (p.severities or p.categories)
        and p.applies_to(severity=severity, category=category)
    ]
    if candidates:
        return max(candidates, key=lambda p: p.specificity)
    return next((p for p in policies if p.is_default), None)


@dataclass(frozen=True)
class LevelSpec:
    """A level as a manager describes it; `users` None leaves a level's users as they are
    (the API does not carry them)."""

    number: int
    name: str
    delay: timedelta
    min_severity: str = ""
    emergency_contact: bool = False
    teams: Sequence[Team] = ()
    emails: Sequence[str] = ()
    users: Sequence[AbstractBaseUser] | None = None
    schedules: Sequence[Schedule] = ()


def _levels_set(policy: EscalationPolicy, levels: Sequence[LevelSpec]) -> None:
    """Make the policy's levels these, level by level (by number), so that the audit log
    shows what changed rather than every level deleted and created again."""
    if problems := check_levels([(spec.number, spec.delay) for spec in levels]):
        raise ValidationError({"levels": problems})
    existing = {level.number: level for level in policy.levels.all()}
    for spec in sorted(levels, key=lambda spec: spec.number):
        level = existing.pop(spec.number, None) or EscalationLevel(
            policy=policy, number=spec.number
        )
        level.name = spec.name
        level.delay = spec.delay
        level.min_severity = spec.min_severity or ""
        level.emergency_contact = spec.emergency_contact
        level.emails = list(spec.emails)
        level.full_clean(exclude=["policy"])
        level.save()
        level.teams.set(spec.teams)
        level.schedules.set(spec.schedules)
        if spec.users is not None:
            level.users.set(spec.users)
    for level in existing.values():
        level.delete()


@transaction.atomic
def policy_create(
    *, actor: AbstractBaseUser, levels: Sequence[LevelSpec], **fields: Any
) -> EscalationPolicy:
    require_permission(actor, "escalation.add_escalationpolicy")
    policy = EscalationPolicy(**fields_allowed(POLICY_FIELDS, fields))
    policy.full_clean()
    policy.save()
    _levels_set(policy, levels)
    return policy


@transaction.atomic
def policy_update(
    *,
    policy: EscalationPolicy,
    actor: AbstractBaseUser,
    levels: Sequence[LevelSpec] | None = None,
    **fields: Any,
) -> EscalationPolicy:
    """Change a policy and (when given) replace its levels; incidents keep their frozen plan."""
    require_permission(actor, "escalation.change_escalationpolicy")
    policy = row_change(policy, fields_allowed(POLICY_FIELDS, fields))
    if levels is not None:
        _levels_set(policy, levels)
    return policy


@transaction.atomic
def policy_delete(*, policy: EscalationPolicy, actor: AbstractBaseUser) -> None:
    """Incidents that escalated by it keep their frozen copy (and lose only the link)."""
    require_permission(actor, "escalation.delete_escalationpolicy")
    policy.delete()


@transaction.atomic
def team_create(
    *, actor: AbstractBaseUser, members: Sequence[AbstractBaseUser] = (), **fields: Any
) -> Team:
    require_permission(actor, "escalation.add_team")
    team = Team(**fields_allowed(TEAM_FIELDS, fields))
    team.full_clean()
    team.save()
    team.members.set(members)
    return team


@transaction.atomic
def team_update(
    *,
    team: Team,
    actor: AbstractBaseUser,
    members: Sequence[AbstractBaseUser] | None = None,
    **fields: Any,
) -> Team:
    """Change a team; its new address and members reach incidents declared from now on."""
    require_permission(actor, "escalation.change_team")
    team = row_change(team, fields_allowed(TEAM_FIELDS, fields))
    if members is not None:
        team.members.set(members)
    return team


@transaction.atomic
def team_delete(*, team: Team, actor: AbstractBaseUser) -> None:
    require_permission(actor, "escalation.delete_team")
    team.delete()
