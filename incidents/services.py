"""The only code that changes incidents, their postmortems and action items. The admin, the
API, the alert adapters, commands and tasks all call these.

Each write reads top to bottom: check the permission, lock the row, change it, record it on
the timeline, then call what follows in the order it happens (the escalation plan and timer,
the checklist runs, the postmortem). Side effects outside the database (tasks, mail, report
files) are queued to run after commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import can_proceed

from alerts.models import AlertGroup, AlertKey
from checklists.services import checklist_runs_attach, checklist_runs_attach_declared
from config.base import (
    ActionNotAllowed,
    audit_created,
    fields_allowed,
    recorded_actor,
    require_permission,
    row_change,
    row_lock,
    timeline_record,
)
from config.bulk import bulk_insert
from config.memo import batch_memo
from escalation.models import Escalation
from escalation.services.channels import channel_updates_queue
from escalation.services.timers import (
    escalation_plan_freeze,
    escalation_reschedule,
    escalation_timer_start,
    escalation_timers_start,
)

from . import postmortems
from .models import (
    Action,
    ActionItem,
    Category,
    IdempotencyKey,
    Incident,
    Postmortem,
    Severity,
    State,
    TimelineEvent,
)

EARLIEST_DETECTION = datetime(2000, 1, 1, tzinfo=UTC)
EDITABLE_FIELDS = ("title", "summary", "impact", "service", "category", "root_cause", "resolution")
POSTMORTEM_FIELDS = postmortems.POSTMORTEM_FIELDS
ACTION_ITEM_FIELDS = ("title", "owner", "due_date", "status", "link")


def incident_allowed_actions(*, incident: Incident, user: AbstractBaseUser) -> list[str]:
    """Actions `user` may take on `incident` now, in lifecycle order."""
    available = {t.name for t in incident.get_available_user_state_transitions(user)}
    return [a.value for a in Action if a.value in available]


def _check_detected_at(detected_at: datetime | None) -> None:
    if detected_at is not None and detected_at > timezone.now():
        raise ValidationError({"detected_at": [_("Detection time cannot be in the future.")]})
    # A mistyped year, not history: every deadline would be centuries past, and Tokyo's clock
    # before 1888 (local mean time, +09:18:59) is no offset a client can read back.
    if detected_at is not None and detected_at < EARLIEST_DETECTION:
        raise ValidationError({"detected_at": [_("Detection time cannot be before 2000.")]})


def _incident_new(
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
    policy_name: str = "",
) -> Incident:
    """The incident as declared: validated, its escalation plan frozen; not saved yet."""
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
        created_by=recorded_actor(actor),
    )
    incident.full_clean(exclude=["created_by", "commander", "state"])
    escalation_plan_freeze(incident=incident, policy_name=policy_name)
    return incident


def _declared(incident: Incident) -> dict[str, Any]:
    """The declaration's timeline event (but for who and when)."""
    return {
        "kind": TimelineEvent.Kind.DECLARED,
        "message": incident.title,
        "data": {"severity": incident.severity, "category": incident.category},
    }


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
    policy_name: str = "",
) -> Incident:
    """Open an incident (障害検知) and start its clock.

    `policy_name` chooses the escalation policy (the API's `policy`, an integration's); empty:
    the most specific policy for the severity and category, else the default.
    `incidents_declare_batch` writes the same rows for many at once: change both together.
    """
    require_permission(actor, "incidents.add_incident")
    incident = _incident_new(
        actor=actor,
        title=title,
        severity=severity,
        summary=summary,
        impact=impact,
        service=service,
        category=category,
        detected_at=detected_at,
        commander=commander,
        policy_name=policy_name,
    )
    incident.save()
    timeline_record(incident=incident, actor=actor, **_declared(incident))
    checklist_runs_attach(incident=incident, declared=True)
    escalation_timer_start(incident=incident)
    return incident


@dataclass(frozen=True)
class Declaration:
    """One incident for `incidents_declare_batch`: what `incident_declare` is called with."""

    actor: AbstractBaseUser
    title: str
    severity: str
    summary: str = ""
    impact: str = ""
    service: str = ""
    category: str = Category.SYSTEM
    detected_at: datetime | None = None
    commander: AbstractBaseUser | None = None
    policy_name: str = ""
    # Timeline events that come after the declaration (alerts joining it in the same batch),
    # without their incident yet: written in the same statement as the declaration's own.
    then: tuple[TimelineEvent, ...] = ()

    def fields(self) -> dict[str, Any]:
        """What `incident_declare` would be called with."""
        return {f.name: getattr(self, f.name) for f in dataclass_fields(self) if f.name != "then"}


@transaction.atomic(savepoint=False)  # all or nothing with the caller's batch
def incidents_declare_batch(
    *, declarations: Sequence[Declaration], timeline: Sequence[TimelineEvent] = ()
) -> list[Incident]:
    """`incident_declare` for many incidents at once (the alert processor's batch): the same
    rows, with one statement per table for all of them instead of a dozen per incident.

    Each actor's permission is checked once; each policy is chosen and frozen once.
    `timeline`: events of incidents open already (alerts that joined them in the same batch),
    written in the same statement as the new incidents' own.
    """
    if not declarations:
        bulk_insert(timeline)
        return []
    actors = {id(d.actor): d.actor for d in declarations}
    for actor in actors.values():
        require_permission(actor, "incidents.add_incident")
    with batch_memo(join=True):  # one choice of policy, one read of the templates
        incidents = [_incident_new(**d.fields()) for d in declarations]
        bulk_insert(incidents)
        audit_created(incidents)  # what the audit log's signal writes for each save
        now = timezone.now()
        declared, then = [], []
        for declaration, incident in zip(declarations, incidents, strict=True):
            actor = recorded_actor(declaration.actor)
            declared.append(
                TimelineEvent(incident=incident, actor=actor, at=now, **_declared(incident))
            )
            for event in declaration.then:
                event.incident = incident
                then.append(event)
        checklist_runs_attach_declared(incidents=incidents)
        escalation_timers_start(incidents=incidents, before=declared, after=[*then, *timeline])
    return incidents


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
    incident = row_lock(incident)
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
        # New alerts with the same key, or of the same group, open a new incident from now on.
        AlertKey.objects.filter(incident=incident).delete()
        AlertGroup.objects.filter(incident=incident).delete()
    if incident.state == State.POSTMORTEM:
        postmortems.postmortem_draft(incident=incident)
    if incident.state == State.CLOSED:
        closed = incident
        transaction.on_commit(lambda: postmortems.report_write(incident=closed), robust=True)
    # Stops at the policy's stop state; a reopened incident picks up where its plan stands.
    if action == Action.REOPEN or incident.next_escalation_at is not None:
        escalation_reschedule(incident=incident)
    channel_updates_queue(incident=incident, action=action, actor=actor)
    return incident


@transaction.atomic
def incident_change_severity(
    *, incident: Incident, severity: str, actor: AbstractBaseUser, note: str = ""
) -> Incident:
    require_permission(actor, "incidents.change_incident")
    if severity not in Severity.values:
        raise ValidationError({"severity": [_("Unknown severity.")]})
    incident = row_lock(incident)
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
    if incident.is_active:  # a new severity can match more checklist templates
        checklist_runs_attach(incident=incident)
    # Raised: a level that now applies and whose deadline passed fires at once (P0 → L4).
    # Lowered: only ever removes levels from the plan, never adds one.
    escalation_reschedule(incident=incident, reason=Escalation.Reason.SEVERITY)
    return incident


@transaction.atomic
def incident_assign_commander(
    *, incident: Incident, commander: AbstractBaseUser | None, actor: AbstractBaseUser
) -> Incident:
    require_permission(actor, "incidents.change_incident")
    if commander is not None and not commander.is_active:
        raise ValidationError({"commander": [_("The commander must be an active user.")]})
    incident = row_lock(incident)
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
    fields_allowed([*EDITABLE_FIELDS, "detected_at"], changes)
    if "detected_at" in changes:
        _check_detected_at(changes["detected_at"])
    incident = row_lock(incident)
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
    if incident.is_active:  # recategorised as security, say: the security checklist too
        checklist_runs_attach(incident=incident)
    if "detected_at" in diff:  # deadlines count from detection
        escalation_reschedule(incident=incident)
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


# --- postmortems (事後対応) and action items -----------------------------------------------


@transaction.atomic
def postmortem_update(*, incident: Incident, actor: AbstractBaseUser, **fields: Any) -> Postmortem:
    """Edit the postmortem; incident fields go through `incident_update` and its timeline."""
    fields_allowed([*POSTMORTEM_FIELDS, *postmortems.INCIDENT_FIELDS], fields)
    require_permission(actor, "incidents.change_incident")
    incident_changes = {k: v for k, v in fields.items() if k in postmortems.INCIDENT_FIELDS}
    if incident_changes:
        incident = incident_update(incident=incident, actor=actor, **incident_changes)
    postmortem = postmortems.postmortem_draft(incident=incident)
    changed = [k for k in POSTMORTEM_FIELDS if k in fields and getattr(postmortem, k) != fields[k]]
    for name in changed:
        setattr(postmortem, name, fields[name])
    if changed:
        postmortem.save(update_fields=[*changed, "updated_at"])
    return postmortem


def report_generate(*, incident: Incident, actor: AbstractBaseUser) -> Path:
    """A manager's "generate report" (any time, any state)."""
    require_permission(actor, "incidents.generate_report")
    return postmortems.report_write(incident=incident)


@transaction.atomic
def action_item_add(
    *, incident: Incident, actor: AbstractBaseUser, title: str, **fields: Any
) -> ActionItem:
    require_permission(actor, "incidents.add_actionitem")
    item = ActionItem(incident=incident, title=title, **fields_allowed(ACTION_ITEM_FIELDS, fields))
    item.full_clean()
    item.save()
    return item


@transaction.atomic
def action_item_update(*, item: ActionItem, actor: AbstractBaseUser, **changes: Any) -> ActionItem:
    """Change an action item (its owner, due date, status…): the admin's list and page alike."""
    require_permission(actor, "incidents.change_actionitem")
    return row_change(item, fields_allowed(ACTION_ITEM_FIELDS, changes))


@transaction.atomic
def action_item_delete(*, item: ActionItem, actor: AbstractBaseUser) -> None:
    require_permission(actor, "incidents.delete_actionitem")
    item.delete()
