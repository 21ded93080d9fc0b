"""What every app's services share. It imports no app, so any app may import it.

- `ActionNotAllowed`: the application's 409 (an action the state or missing data refuses);
- `require_permission`: the one permission check every service makes for its actor;
- `SYSTEM`: the actor of Hikeshi's own work and of an operator at the command line;
- `row_lock`, `row_change`: one writer per row at a time, and a change made under that lock;
- `fields_allowed`: a field a service does not change is refused by name, never ignored;
- `timeline_record`: the incident's append-only timeline, written through the incident;
- `audit_change`: an audit entry for a change that no model save records (a bulk update);
- `audit_created`: the audit log's entries for rows inserted in bulk, as their saves would;
- `audit_actor_set`: who the audit log names for the rest of a request that authenticated by
  other means than the session (a token, a chat account, a signed link);
- `record_save`, `record_delete`: a manager's change to a plain configuration record (a
  checklist template, a known problem) with the model's own permissions;
- `task_after_commit`: a Celery task published once the transaction has committed
  (`tasks_after_commit`: many calls of one task, a batch's, over one broker connection);
- `JST`: the runbook's clock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from auditlog.cid import get_cid
from auditlog.context import auditlog_disabled, auditlog_value
from auditlog.diff import model_instance_diff
from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, models, transaction
from django.db.models.signals import pre_save
from django.utils import timezone
from django.utils.encoding import smart_str
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .bulk import bulk_insert
from .celery import app as celery_app

log = logging.getLogger(__name__)

# The runbook's clock: reports, schedules and notices show Japan time, whatever TIME_ZONE says.
JST = ZoneInfo("Asia/Tokyo")

M = TypeVar("M", bound=models.Model)


class ActionNotAllowed(Exception):
    """An action that the object's state (or missing data) does not allow now: the API's 409.

    `state` is the state that refuses it, when the object has one; `allowed` the actions the
    caller may take instead; `missing` what must be filled in first.
    """

    def __init__(
        self,
        message: str = "",
        *,
        action: str,
        state: str = "",
        allowed: Iterable[str] = (),
        missing: Iterable[str] = (),
    ):
        self.action, self.state = action, state
        self.allowed, self.missing = list(allowed), list(missing)
        if not message and self.missing:
            message = _("%(action)s needs first: %(missing)s") % {
                "action": action,
                "missing": ", ".join(self.missing),
            }
        elif not message:
            message = _("%(action)s is not allowed while the incident is %(state)s") % {
                "action": action,
                "state": state,
            }
        super().__init__(message)


class SystemActor(AnonymousUser):
    """Hikeshi itself (sweeps, beat tasks) or an operator at the command line.

    Trusted with every permission, recorded as nobody: no request can ever act as it, since
    views pass the request's user and a request's user is never this object.
    """

    username = "system"

    def __str__(self) -> str:
        return "system"

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return True

    def has_perms(self, perm_list: Iterable[str], obj: object = None) -> bool:
        return True


SYSTEM = SystemActor()


def database_now() -> datetime:
    """The database's clock, the one every process shares: a deadline is due when the
    database says so, not when a machine whose clock runs ahead thinks so."""
    if connection.vendor != "postgresql":
        return timezone.now()  # an embedded database: the machine's clock is its clock
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def require_permission(actor: AbstractBaseUser | AnonymousUser, perm: str) -> None:
    """Every service checks its permission itself: admin, API, commands and tasks alike."""
    if not actor.has_perm(perm):
        raise PermissionDenied(_("You do not have permission: %(perm)s") % {"perm": perm})


def recorded_actor(actor: AbstractBaseUser | AnonymousUser | None) -> AbstractBaseUser | None:
    """The user to record as having done something; None for the system or nobody."""
    return actor if actor is not None and actor.is_authenticated else None


def row_lock(obj: M, *, related: Iterable[str] = ()) -> M:
    """The row again, locked until the transaction ends (SELECT … FOR UPDATE).

    One writer per row at a time: the loser waits, then sees the winner's change.
    """
    rows = type(obj)._default_manager.select_for_update(of=("self",) if related else ())
    return rows.select_related(*related).get(pk=obj.pk)


def row_change(obj: M, changes: dict[str, Any], *, exclude: Iterable[str] = ()) -> M:
    """`changes` applied to the row as it is now, under its lock, validated (but for the
    fields in `exclude`, which callers do not set) and saved."""
    row = row_lock(obj)
    for name, value in changes.items():
        setattr(row, name, value)
    row.full_clean(exclude=list(exclude))
    row.save()
    return row


def fields_allowed(allowed: Iterable[str], fields: dict[str, Any]) -> dict[str, Any]:
    """`fields`, if each is one of `allowed`; else a ValidationError naming the others."""
    if unknown := set(fields) - set(allowed):
        raise ValidationError({name: [_("This field cannot be changed.")] for name in unknown})
    return fields


def timeline_record(
    *,
    incident: models.Model,
    kind: str,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    message: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
):
    """Append an event to the incident's timeline (who, when, what); it is never changed."""
    return incident.timeline.create(
        kind=kind,
        actor=recorded_actor(actor),
        at=at or timezone.now(),
        message=message,
        data=data or {},
    )


def audit_change(
    obj: models.Model, *, actor: AbstractBaseUser | AnonymousUser, changes: dict[str, list]
) -> None:
    """Record `changes` ({field: [before, after]}) to `obj` by `actor` in the audit log, for a
    write the audit log does not see by itself (a queryset update, an unregistered model)."""
    LogEntry.objects.log_create(
        obj, action=LogEntry.Action.UPDATE, actor=recorded_actor(actor), changes=changes
    )


def audit_created(objs: Sequence[models.Model]) -> None:
    """The audit log's "created" entries for rows inserted in bulk (which send no signals),
    field for field what its signal writes for a save, in one statement."""
    if not objs or auditlog_disabled.get() or not auditlog.contains(type(objs[0])):
        return
    content_type = ContentType.objects.get_for_model(objs[0])
    entries = []
    for obj in objs:
        changes = model_instance_diff(
            None, obj, use_json_for_changes=settings.AUDITLOG_STORE_JSON_CHANGES
        )
        if not changes:
            continue
        entry = LogEntry(
            content_type=content_type,
            object_pk=str(obj.pk),
            object_id=obj.pk if isinstance(obj.pk, int) else None,
            object_repr=smart_str(obj),
            serialized_data=LogEntry.objects._get_serialized_data_or_none(obj),
            action=LogEntry.Action.CREATE,
            changes=changes,
            cid=get_cid(),
        )
        if callable(additional := getattr(obj, "get_additional_data", None)):
            entry.additional_data = additional()
        # What the entry's save would do: the audit context's actor and address (a request's).
        pre_save.send(
            LogEntry, instance=entry, raw=False, using=connection.alias, update_fields=None
        )
        entries.append(entry)
    bulk_insert(entries)


def audit_mask(value: str) -> str:
    """How the audit log shows a secret (a webhook URL): that it is set, never any of it."""
    return "•••" if value and value != "None" else ""


def audit_actor_set(actor: AbstractBaseUser) -> None:
    """From now on in this request, the audit log's entries name `actor`: the request's
    session did not say who it is (a token, a chat account, a signed link did)."""
    try:
        context = auditlog_value.get()
    except LookupError:
        return
    if actor.is_authenticated:
        context["actor"] = actor


def _permission(obj: models.Model, action: str) -> str:
    return f"{obj._meta.app_label}.{action}_{obj._meta.model_name}"


@transaction.atomic
def record_save(
    obj: M, *, actor: AbstractBaseUser | AnonymousUser, changed: Iterable[str] = ()
) -> M:
    """Create `obj` (unsaved), or take its `changed` fields onto its row, as `actor`: the
    model's own add or change permission, its validation, then the save the audit log records.

    For records whose rules are the model's own; anything with more to it (incidents,
    policies, teams, integrations) has a service of its own.
    """
    if obj._state.adding:
        require_permission(actor, _permission(obj, "add"))
        obj.full_clean()
        obj.save()
        return obj
    require_permission(actor, _permission(obj, "change"))
    columns = {field.name for field in obj._meta.concrete_fields}
    return row_change(obj, {name: getattr(obj, name) for name in changed if name in columns})


@transaction.atomic
def record_delete(obj: models.Model, *, actor: AbstractBaseUser | AnonymousUser) -> None:
    require_permission(actor, _permission(obj, "delete"))
    obj.delete()


def task_after_commit(name: str, *args: Any, countdown: float | None = None, **kwargs: Any):
    """Publish the Celery task `name` once the transaction commits; a dead broker is logged,
    never raised.

    The database already holds what the task would act on (a deadline, a pending notice), so
    a sweep does the work of a lost publish, at most one interval later. By name: services
    never import tasks, and the task's queue comes from CELERY_TASK_ROUTES as for `.delay()`.
    """

    def publish():
        try:
            if celery_app.conf.task_always_eager:  # CELERY_TASK_ALWAYS_EAGER: inline, debugging
                celery_app.loader.import_default_modules()  # the apps' tasks, as a worker has
                celery_app.tasks[name].apply(args=args, kwargs=kwargs)
            else:
                celery_app.send_task(name, args=args, kwargs=kwargs, countdown=countdown)
        except Exception:  # noqa: BLE001 — any broker failure; the sweeper is the fallback
            log.warning("broker unavailable; a sweep will pick %s up", name, exc_info=True)

    transaction.on_commit(publish, robust=True)


def tasks_after_commit(name: str, calls: Sequence[tuple[tuple, float | None]]) -> None:
    """`task_after_commit` for many calls of one task, each (args, countdown): one commit hook
    and one broker connection for a whole batch (the alert processor's timers). A dead broker
    is logged, never raised; the sweep does the work of what was not published."""
    if not calls:
        return

    def publish():
        try:
            if celery_app.conf.task_always_eager:
                celery_app.loader.import_default_modules()
                for args, _countdown in calls:
                    celery_app.tasks[name].apply(args=args)
                return
            with celery_app.producer_or_acquire() as producer:
                for args, countdown in calls:
                    celery_app.send_task(name, args=args, countdown=countdown, producer=producer)
        except Exception:  # noqa: BLE001 — any broker failure; the sweeper is the fallback
            log.warning("broker unavailable; a sweep will pick %s up", name, exc_info=True)

    transaction.on_commit(publish, robust=True)


def duration_text(delta: timedelta) -> str:
    """ "15 minutes", "1 hour 5 minutes" — whole minutes, in the active language."""
    minutes = max(0, int(delta.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours})
    if minutes or not hours:
        parts.append(ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes})
    return " ".join(parts)
