"""The only code that changes incidents. Admin, API, chat and alerts all call these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import can_proceed, has_transition_perm

from . import postmortems, signals
from .models import (
    Action,
    Alert,
    AlertKey,
    Category,
    IdempotencyKey,
    Incident,
    Severity,
    State,
    TimelineEvent,
)

User = get_user_model()

EDITABLE_FIELDS = ("title", "summary", "impact", "service", "category", "root_cause", "resolution")


class ActionNotAllowed(Exception):
    """A lifecycle action that the incident's state (or missing data) does not allow now."""

    def __init__(self, *, action: str, state: str, allowed: list[str], missing=()):
        self.action, self.state, self.allowed, self.missing = action, state, allowed, list(missing)
        if self.missing:
            message = _("%(action)s needs first: %(missing)s") % {
                "action": action,
                "missing": ", ".join(self.missing),
            }
        else:
            message = _("%(action)s is not allowed while the incident is %(state)s") % {
                "action": action,
                "state": state,
            }
        super().__init__(message)


def require_permission(actor: AbstractBaseUser, perm: str) -> None:
    """Every service checks its permission itself: admin, API, chat and tasks alike."""
    if not actor.has_perm(perm):
        raise PermissionDenied(_("You do not have permission: %(perm)s") % {"perm": perm})


def timeline_record(
    *,
    incident: Incident,
    kind: str,
    actor: AbstractBaseUser | None = None,
    message: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> TimelineEvent:
    return TimelineEvent.objects.create(
        incident=incident,
        kind=kind,
        actor=actor if actor and actor.is_authenticated else None,
        at=at or timezone.now(),
        message=message,
        data=data or {},
    )


def incident_allowed_actions(*, incident: Incident, user: AbstractBaseUser) -> list[str]:
    """Actions `user` may take on `incident` now, in lifecycle order."""
    available = {t.name for t in incident.get_available_user_state_transitions(user)}
    return [a.value for a in Action if a.value in available]


def incident_lock(incident: Incident) -> Incident:
    # One writer per incident at a time; the loser sees the winner's state and gets a 409.
    return Incident.objects.select_for_update().get(pk=incident.pk)


def _check_detected_at(detected_at: datetime | None) -> None:
    if detected_at is not None and detected_at > timezone.now():
        raise ValidationError({"detected_at": [_("Detection time cannot be in the future.")]})


@transaction.atomic
def incident_declare(
    *,
    actor: AbstractBaseUser,
    title: str,
    severity: str,
    summary: str = "",
    impact: str = "",
    service: str = "",
    category: str = Category.SYSTEM,
    detected_at: datetime | None = None,
    commander: AbstractBaseUser | None = None,
    extra: dict[str, Any] | None = None,
) -> Incident:
    """Open an incident (障害検知) and start its clock; `extra` is passed to receivers."""
    require_permission(actor, "incidents.add_incident")
    _check_detected_at(detected_at)
    incident = Incident(
        title=title,
        severity=severity,
        summary=summary,
        impact=impact,
        service=service,
        category=category,
        detected_at=detected_at or timezone.now(),
        commander=commander,
        created_by=actor if actor.is_authenticated else None,
    )
    incident.full_clean(exclude=["created_by", "commander", "state"])
    incident.save()
    timeline_record(
        incident=incident,
        kind=TimelineEvent.Kind.DECLARED,
        actor=actor,
        message=title,
        data={"severity": severity, "category": category},
    )
    signals.incident_declared.send(
        sender=Incident, incident=incident, actor=actor, extra=extra or {}
    )
    return incident


def incident_declare_once(
    *, actor: AbstractBaseUser, idempotency_key: str, **fields: Any
) -> tuple[Incident, bool]:
    """Declare unless this client already did with the same key; (incident, created)."""
    previous = IdempotencyKey.objects.filter(user=actor, key=idempotency_key).first()
    if previous:
        return previous.incident, False
    try:
        with transaction.atomic():
            incident = incident_declare(actor=actor, **fields)
            IdempotencyKey.objects.create(user=actor, key=idempotency_key, incident=incident)
    except IntegrityError:
        # A concurrent retry won the race; its incident is the one.
        return IdempotencyKey.objects.get(user=actor, key=idempotency_key).incident, False
    return incident, True


@transaction.atomic
def incident_transition(
    *,
    incident: Incident,
    action: str,
    actor: AbstractBaseUser,
    note: str = "",
    reason: str = "",
) -> Incident:
    """Apply a lifecycle action for `actor` and record it on the timeline."""
    if action not in Action.values:
        raise ValidationError({"action": [_("Unknown action.")]})
    require_permission(actor, f"incidents.{action}_incident")
    if action == Action.DISMISS and not reason.strip():
        raise ValidationError({"reason": [_("A reason is required to dismiss an incident.")]})
    incident = incident_lock(incident)
    method = getattr(incident, action)
    if not can_proceed(method, check_conditions=False):
        raise ActionNotAllowed(
            action=action,
            state=incident.state,
            allowed=incident_allowed_actions(incident=incident, user=actor),
        )
    if action == Action.CLOSE and (missing := incident.close_blockers()):
        raise ActionNotAllowed(
            action=action,
            state=incident.state,
            allowed=incident_allowed_actions(incident=incident, user=actor),
            missing=missing,
        )
    if not has_transition_perm(method, actor):
        raise PermissionDenied
    previous = incident.state
    now = timezone.now()
    kwargs = {"reason": reason.strip()} if action == Action.DISMISS else {}
    method(at=now, **kwargs)
    incident.save()
    timeline_record(
        incident=incident,
        kind=action,
        actor=actor,
        at=now,
        message=reason.strip() or note.strip(),
        data={"from": previous, "to": incident.state},
    )
    if not incident.is_active:
        # New alerts with the same key open a new incident from now on.
        AlertKey.objects.filter(incident=incident).delete()
    if incident.state == State.POSTMORTEM:
        postmortems.postmortem_draft(incident=incident)
    if incident.state == State.CLOSED:
        closed = incident
        transaction.on_commit(lambda: postmortems.report_write(incident=closed), robust=True)
    signals.incident_transitioned.send(
        sender=Incident, incident=incident, action=action, actor=actor
    )
    return incident


@transaction.atomic
def incident_change_severity(
    *, incident: Incident, severity: str, actor: AbstractBaseUser, note: str = ""
) -> Incident:
    require_permission(actor, "incidents.change_incident")
    if severity not in Severity.values:
        raise ValidationError({"severity": [_("Unknown severity.")]})
    incident = incident_lock(incident)
    previous = incident.severity
    if previous == severity:
        return incident
    incident.severity = severity
    incident.save(update_fields=["severity", "updated_at"])
    timeline_record(
        incident=incident,
        kind=TimelineEvent.Kind.SEVERITY,
        actor=actor,
        message=note,
        data={"from": previous, "to": severity},
    )
    signals.incident_severity_changed.send(
        sender=Incident, incident=incident, previous=previous, actor=actor
    )
    return incident


@transaction.atomic
def incident_assign_commander(
    *, incident: Incident, commander: AbstractBaseUser | None, actor: AbstractBaseUser
) -> Incident:
    require_permission(actor, "incidents.change_incident")
    if commander is not None and not commander.is_active:
        raise ValidationError({"commander": [_("The commander must be an active user.")]})
    incident = incident_lock(incident)
    previous = incident.commander
    if previous == commander:
        return incident
    incident.commander = commander
    incident.save(update_fields=["commander", "updated_at"])
    timeline_record(
        incident=incident,
        kind=TimelineEvent.Kind.COMMANDER,
        actor=actor,
        data={
            "from": previous.get_username() if previous else None,
            "to": commander.get_username() if commander else None,
        },
    )
    return incident


@transaction.atomic
def incident_update(*, incident: Incident, actor: AbstractBaseUser, **changes: Any) -> Incident:
    """Edit details; severity and commander go through their own services and events."""
    require_permission(actor, "incidents.change_incident")
    if "severity" in changes:
        incident = incident_change_severity(
            incident=incident, severity=changes.pop("severity"), actor=actor
        )
    if "commander" in changes:
        incident = incident_assign_commander(
            incident=incident, commander=changes.pop("commander"), actor=actor
        )
    unknown = set(changes) - set(EDITABLE_FIELDS) - {"detected_at"}
    if unknown:
        raise ValidationError({name: [_("This field cannot be changed.")] for name in unknown})
    if "detected_at" in changes:
        _check_detected_at(changes["detected_at"])
    incident = incident_lock(incident)
    diff = {}
    for name, value in changes.items():
        before = getattr(incident, name)
        if before != value:
            diff[name] = {"from": _jsonable(before), "to": _jsonable(value)}
            setattr(incident, name, value)
    if not diff:
        return incident
    incident.full_clean(exclude=["created_by", "commander", "state"])
    incident.save(update_fields=[*diff, "updated_at"])
    timeline_record(
        incident=incident,
        kind=TimelineEvent.Kind.FIELDS,
        actor=actor,
        message=", ".join(sorted(diff)),
        data=diff,
    )
    signals.incident_updated.send(sender=Incident, incident=incident, changes=diff, actor=actor)
    return incident


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@transaction.atomic
def incident_add_note(
    *, incident: Incident, actor: AbstractBaseUser, message: str
) -> TimelineEvent:
    require_permission(actor, "incidents.add_note")
    if not message.strip():
        raise ValidationError({"message": [_("A note cannot be empty.")]})
    return timeline_record(
        incident=incident, kind=TimelineEvent.Kind.NOTE, actor=actor, message=message.strip()
    )


def incident_action_states(
    *, incident: Incident, user: AbstractBaseUser
) -> list[tuple[str, bool, str]]:
    """Every action with whether `user` may take it now and, if not, why (for the admin)."""
    allowed = set(incident_allowed_actions(incident=incident, user=user))
    states = []
    for action in Action:
        method = getattr(incident, action.value)
        if action.value in allowed:
            states.append((action.value, True, ""))
        elif not can_proceed(method, check_conditions=False):
            continue
        elif not user.has_perm(f"incidents.{action.value}_incident"):
            states.append((action.value, False, _("Your role may not do this.")))
        elif action == Action.CLOSE:
            missing = ", ".join(incident.close_blocker_labels())
            states.append((action.value, False, _("Fill in first: %(m)s") % {"m": missing}))
    return states


# --- alerts → incidents --------------------------------------------------------------


@dataclass(frozen=True)
class AlertEvent:
    """One alert as an integration saw it, already translated from its wire format."""

    key: str  # what alerts of one incident share (group key, fingerprint, dedup key)
    fingerprint: str  # this alert within the incident
    firing: bool
    title: str
    severity: str
    summary: str = ""
    source: str = ""
    service: str = ""
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    links: list = field(default_factory=list)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    raw: dict = field(default_factory=dict)
    # When Hikeshi accepted it; None: now. Applied later, an alert keeps its arrival time.
    received_at: datetime | None = None


def _open_alert_key(*, integration, event: AlertEvent, actor) -> tuple[AlertKey, bool]:
    """The active incident for this key, or a new one; a unique constraint settles races."""
    found = (
        AlertKey.objects.select_for_update()
        .select_related("incident")
        .filter(integration=integration, key=event.key)
        .first()
    )
    if found:
        return found, False
    now = event.received_at or timezone.now()
    try:
        with transaction.atomic():
            incident = incident_declare(
                actor=actor,
                title=event.title[:200] or event.key[:200],
                severity=event.severity,
                summary=event.summary,
                service=event.service[:100],
                detected_at=min(event.starts_at or now, now),
                extra={"integration": integration, "policy": integration.policy},
            )
            return AlertKey.objects.create(
                integration=integration, key=event.key, incident=incident
            ), True
    except IntegrityError:
        # Another request opened it a moment ago; its incident is ours.
        return (
            AlertKey.objects.select_for_update()
            .select_related("incident")
            .get(integration=integration, key=event.key),
            False,
        )


# No savepoint (a statement pair fewer per alert): a failed alert fails its caller's whole
# transaction anyway, a request's or the alert processor's batch.
@transaction.atomic(savepoint=False)
def alert_receive(*, integration, event: AlertEvent, actor: AbstractBaseUser) -> Alert | None:
    """Record an alert: open an incident, or attach to the open one with the same key.

    Returns None for a resolution of an alert we hold no open incident for.
    """
    now = event.received_at or timezone.now()
    if not event.firing:
        return _alert_resolved(integration=integration, event=event, actor=actor, now=now)
    alert_key, opened = _open_alert_key(integration=integration, event=event, actor=actor)
    incident = alert_key.incident
    alert = Alert.objects.filter(
        incident=incident, integration=integration, fingerprint=event.fingerprint
    ).first()
    if alert is not None:
        alert.incident = incident  # already loaded with the key: no second query
    else:
        alert = Alert(
            incident=incident,
            integration=integration,
            fingerprint=event.fingerprint,
            first_received_at=now,
            times_received=0,
        )
    newly_firing = alert.pk is None or alert.status == Alert.Status.RESOLVED
    _fill_alert(alert, event, now, Alert.Status.FIRING)
    alert.save()
    if newly_firing and not opened:
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.ALERT,
            actor=actor,
            message=event.title[:500],
            data={"fingerprint": event.fingerprint, "integration": integration.name},
            at=now,
        )
    return alert


def _fill_alert(alert: Alert, event: AlertEvent, now: datetime, status: str) -> None:
    alert.status = status
    alert.summary = (event.summary or event.title)[:1024]
    alert.source = event.source[:255]
    alert.severity = event.severity
    alert.labels = event.labels
    alert.annotations = event.annotations
    alert.links = event.links
    alert.starts_at = event.starts_at or alert.starts_at
    alert.ends_at = event.ends_at if status == Alert.Status.RESOLVED else None
    alert.raw = event.raw
    alert.last_received_at = now
    alert.times_received += 1


def _alert_resolved(*, integration, event: AlertEvent, actor, now: datetime) -> Alert | None:
    alert_key = (
        AlertKey.objects.select_for_update()
        .select_related("incident")
        .filter(integration=integration, key=event.key)
        .first()
    )
    if alert_key is None:
        return None
    incident = alert_key.incident
    alert = (
        Alert.objects.select_for_update()
        .filter(incident=incident, integration=integration, fingerprint=event.fingerprint)
        .first()
    )
    if alert is None or alert.status == Alert.Status.RESOLVED:
        return alert
    _fill_alert(alert, event, now, Alert.Status.RESOLVED)
    alert.ends_at = alert.ends_at or now
    alert.save()
    if not incident.alerts.filter(status=Alert.Status.FIRING).exists():
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.ALERTS_RESOLVED,
            actor=actor,
            message=_("Every alert of this incident has resolved."),
            at=now,
        )
        if integration.auto_resolve and incident.is_active:
            incident_transition(
                incident=incident,
                action=Action.RESOLVE,
                actor=actor,
                note=_("Resolved automatically: all alerts resolved."),
            )
    return alert


def alert_key_act(
    *, integration, key: str, action: str, actor: AbstractBaseUser
) -> Incident | None:
    """A monitoring system's acknowledge/resolve for the incident open under `key`."""
    alert_key = AlertKey.objects.filter(integration=integration, key=key).first()
    if alert_key is None:
        return None
    incident = alert_key.incident
    if action == Action.ACKNOWLEDGE and incident.state != State.DETECTED:
        return incident
    if action == Action.RESOLVE and not incident.is_active:
        return incident
    return incident_transition(incident=incident, action=action, actor=actor)
