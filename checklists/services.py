"""The only code that changes checklists: runs attached to incidents and to maintenance
periods, their ticks, the overdue notices, and the managers' templates and known problems.
The admin, the API, the incident services and the beat tasks call these."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from config.base import (
    ActionNotAllowed,
    fields_allowed,
    record_delete,
    record_save,
    require_permission,
    row_lock,
    timeline_record,
)
from config.bulk import bulk_insert
from config.memo import memoized
from incidents.models import Incident, TimelineEvent
from notices.services import notice_message_queue

from . import selectors
from .models import (
    CONTENT_FIELDS,
    ChecklistRun,
    ChecklistTemplate,
    RunItem,
    TemplateItem,
    period_bounds,
)

TICK_PERMISSION = "checklists.tick_runitem"
# Who is told when a run that belongs to neither an incident nor a period changes (a change's
# run): named by path, like the outbox's renderers, so checklists imports none of them. Each is
# called inside the tick's transaction with `run` and `actor`.
RUN_OWNERS = ["changes.services.change_run_changed"]


def _run_closed(*, action: str, run: ChecklistRun) -> ActionNotAllowed:
    """Ticking an item of a run that is history: a 409 like any action refused now."""
    return ActionNotAllowed(
        _("%(run)s is closed; its items cannot change.") % {"run": run}, action=action
    )


def _run_new(
    *,
    template: ChecklistTemplate,
    incident: Incident | None = None,
    period_start: datetime | None = None,
    due_at: datetime | None = None,
) -> ChecklistRun:
    return ChecklistRun(
        template=template,
        kind=template.kind,
        name_ja=template.name_ja,
        name_en=template.name_en,
        incident=incident,
        period_start=period_start,
        due_at=due_at,
    )


def _run_items(run: ChecklistRun) -> list[RunItem]:
    """A copy of the run's template items as they are now (unsaved)."""
    template = run.template
    items = memoized(
        ("checklist items", template.pk), lambda: list(template.items.order_by("position", "pk"))
    )
    return [
        RunItem(run=run, template_item=item, **{f: getattr(item, f) for f in CONTENT_FIELDS})
        for item in items
    ]


def checklist_run_create(
    *,
    template: ChecklistTemplate,
    incident: Incident | None = None,
    period_start: datetime | None = None,
    due_at: datetime | None = None,
) -> ChecklistRun:
    """A run with a copy of the template's items as they are now."""
    run = _run_new(template=template, incident=incident, period_start=period_start, due_at=due_at)
    run.save()
    bulk_insert(_run_items(run))
    return run


def _incident_templates() -> list[ChecklistTemplate]:
    return memoized(
        "checklist templates",
        lambda: list(ChecklistTemplate.objects.filter(is_active=True).order_by("pk")),
    )


def checklist_runs_attach(*, incident: Incident, declared: bool = False) -> list[ChecklistRun]:
    """Attach every matching incident template not attached yet; never detaches.

    `declared`: the incident was created in this transaction, so nothing is attached yet and
    nobody else can attach concurrently (no lookup, no savepoint per template).
    """
    attached = (
        set() if declared else set(incident.checklist_runs.values_list("template_id", flat=True))
    )
    runs = []
    for template in _incident_templates():
        if template.pk in attached or not template.applies_to(incident):
            continue
        if declared:
            runs.append(checklist_run_create(template=template, incident=incident))
            continue
        try:
            with transaction.atomic():
                runs.append(checklist_run_create(template=template, incident=incident))
        except IntegrityError:
            continue  # attached concurrently
    return runs


def checklist_runs_attach_declared(*, incidents: Sequence[Incident]) -> list[ChecklistRun]:
    """`checklist_runs_attach(declared=True)` for incidents declared together: every run in
    one statement, every item in another."""
    templates = _incident_templates()
    runs = bulk_insert(
        [
            _run_new(template=template, incident=incident)
            for incident in incidents
            for template in templates
            if template.applies_to(incident)
        ]
    )
    _run_items_copy(runs)
    return runs


def _run_items_copy(runs: Sequence[ChecklistRun]) -> None:
    """Each run's items copied from its template's as they are now, as `_run_items` makes
    them; on PostgreSQL by one INSERT … SELECT, no item passing through Python."""
    if connection.vendor != "postgresql":
        bulk_insert([item for run in runs for item in _run_items(run)])
        return
    if not runs:
        return
    quote = connection.ops.quote_name
    copied = [RunItem._meta.get_field(name).column for name in CONTENT_FIELDS]
    defaults = [
        f
        for f in RunItem._meta.concrete_fields
        if not f.primary_key and f.name not in {"run", "template_item", *CONTENT_FIELDS}
    ]
    columns = ", ".join(
        quote(c) for c in ["run_id", "template_item_id", *copied, *(f.column for f in defaults)]
    )
    values = ", ".join(
        [
            "r.run_id",
            "t.id",
            *(f"t.{quote(c)}" for c in copied),
            *(f"%s::{f.db_type(connection)}" for f in defaults),
        ]
    )
    sql = (
        f"INSERT INTO {quote(RunItem._meta.db_table)} ({columns}) SELECT {values} "  # noqa: S608 # nosec B608 # names from the models, quoted; values are bound parameters
        "FROM unnest(%s::bigint[], %s::bigint[]) WITH ORDINALITY AS r(run_id, template_id, n) "
        f"JOIN {quote(TemplateItem._meta.db_table)} t ON t.template_id = r.template_id "
        "ORDER BY r.n, t.position, t.id"
    )
    params = [f.get_db_prep_save(f.get_default(), connection) for f in defaults]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, [r.pk for r in runs], [r.template_id for r in runs]])


def maintenance_run_create(
    *, template: ChecklistTemplate, at: datetime | None = None
) -> tuple[ChecklistRun, bool]:
    """The run for the period containing `at`; (run, created). Safe to call any number of times."""
    if not template.is_recurring:
        raise ValidationError({"template": [_("Only daily, weekly and monthly recur.")]})
    start, end = period_bounds(template.kind, at or timezone.now())
    existing = ChecklistRun.objects.filter(template=template, period_start=start).first()
    if existing:
        return existing, False
    try:
        with transaction.atomic():
            return checklist_run_create(template=template, period_start=start, due_at=end), True
    except IntegrityError:
        # The beat task ran twice (or two workers took it): the constraint keeps one run.
        return ChecklistRun.objects.get(template=template, period_start=start), False


def maintenance_run_current(*, key: str, at: datetime | None = None) -> ChecklistRun | None:
    """The run of template `key` for the period containing `at` (created if missing), if the
    template is active: what the beat task asks for at the start of each period."""
    template = ChecklistTemplate.objects.filter(key=key, is_active=True).first()
    if template is None:
        return None
    return maintenance_run_create(template=template, at=at)[0]


# --- ticking ---------------------------------------------------------------------------


def _lock_item(item: RunItem, action: str, actor: AbstractBaseUser) -> RunItem:
    require_permission(actor, TICK_PERMISSION)
    # Lock the run: completion is decided over all its items.
    run = row_lock(item.run, related=["incident"])
    if run.is_closed():
        raise _run_closed(action=action, run=run)
    item = row_lock(item)
    item.run = run
    return item


TIMELINE_KINDS = {
    "done": TimelineEvent.Kind.CHECKLIST_DONE,
    "skip": TimelineEvent.Kind.CHECKLIST_SKIPPED,
    "undo": TimelineEvent.Kind.CHECKLIST_UNDONE,
}


def _after_change(*, item: RunItem, action: str, actor: AbstractBaseUser) -> None:
    run = item.run
    complete = not run.missing_required()
    if complete and run.completed_at is None:
        run.completed_at = timezone.now()
        run.save(update_fields=["completed_at"])
    elif not complete and run.completed_at is not None:
        run.completed_at = None
        run.save(update_fields=["completed_at"])
    if not run.incident_id and not run.period_start:
        for owner in RUN_OWNERS:
            import_string(owner)(run=run, actor=actor)
    if run.incident_id:
        timeline_record(
            incident=run.incident,
            kind=TIMELINE_KINDS[action],
            actor=actor,
            # Stored, not translated at read time: the item's words as the runbook has them.
            message=f"{item.text_ja} ({item.skip_reason})" if item.skip_reason else item.text_ja,
            data={
                "checklist_run": run.pk,
                "checklist_item": item.pk,
                "event": action,
                "reason": item.skip_reason,
            },
        )


@transaction.atomic
def run_item_tick(*, item: RunItem, actor: AbstractBaseUser, note: str = "") -> RunItem:
    """Mark an item done (again: a no-op)."""
    item = _lock_item(item, "done", actor)
    if item.status == RunItem.Status.DONE:
        return item
    item.status, item.skip_reason = RunItem.Status.DONE, ""
    item.by, item.at, item.note = actor, timezone.now(), note.strip() or item.note
    item.save()
    _after_change(item=item, action="done", actor=actor)
    return item


@transaction.atomic
def run_item_undo(*, item: RunItem, actor: AbstractBaseUser) -> RunItem:
    """Untick: the item is open again (and its run incomplete if it was required)."""
    item = _lock_item(item, "undo", actor)
    if item.status == RunItem.Status.OPEN:
        return item
    item.status, item.skip_reason = RunItem.Status.OPEN, ""
    item.by, item.at = actor, timezone.now()
    item.save()
    _after_change(item=item, action="undo", actor=actor)
    return item


@transaction.atomic
def run_item_skip(*, item: RunItem, actor: AbstractBaseUser, reason: str) -> RunItem:
    """Skip with a reason; a skipped required item no longer blocks close."""
    if not (reason or "").strip():
        raise ValidationError({"reason": [_("A reason is required to skip an item.")]})
    item = _lock_item(item, "skip", actor)
    item.status, item.skip_reason = RunItem.Status.SKIPPED, reason.strip()
    item.by, item.at = actor, timezone.now()
    item.save()
    _after_change(item=item, action="skip", actor=actor)
    return item


# --- overdue ---------------------------------------------------------------------------


def checklist_runs_mark_overdue(*, now: datetime | None = None) -> list[ChecklistRun]:
    """Claim each newly overdue run once (compare-and-set) and queue its notice."""
    now = now or timezone.now()
    claimed = []
    recipients = selectors.operations_team_addresses()
    for run in selectors.runs_overdue_unnotified(now=now):
        with transaction.atomic():
            # Only the worker whose UPDATE changed the row sends: no double notice.
            won = ChecklistRun.objects.filter(
                pk=run.pk, overdue_notified_at__isnull=True, completed_at__isnull=True
            ).update(overdue_notified_at=now)
            if won:
                overdue_notice_queue(run=run, recipients=recipients)
                claimed.append(run)
    return claimed


def overdue_notice_queue(*, run: ChecklistRun, recipients: list[str]) -> None:
    """Tell the operations team a run is overdue, through the notice outbox (with retries)."""
    if not recipients:
        return
    due = timezone.localtime(run.due_at).strftime("%Y-%m-%d %H:%M")
    with translation.override("ja"):
        notice_message_queue(
            recipients=recipients,
            subject=_("[Hikeshi] Overdue checklist: %(name)s") % {"name": run.name},
            text=_("%(name)s was due at %(due)s and is not complete.\n%(url)s")
            % {"name": run.name, "due": due, "url": f"{settings.SITE_URL}{run.get_admin_url()}"},
        )


# --- managers: templates and their items --------------------------------------------------

TEMPLATE_FIELDS = ("key", "name_ja", "name_en", "kind", "source", "severities", "categories")
TEMPLATE_FIELDS += ("is_active",)
ITEM_FIELDS = [name for name in CONTENT_FIELDS if name != "position"]


def template_items(template: ChecklistTemplate) -> list[TemplateItem]:
    """The template's items in their order (position, then as added)."""
    return sorted(template.items.all(), key=lambda item: (item.position, item.pk))


def _template_items_set(
    template: ChecklistTemplate, items: Sequence[dict[str, Any]], *, actor: AbstractBaseUser
) -> None:
    """Make the template's items these, in this order, place by place (position 1, 2, …), so
    that the audit log shows what changed rather than every item deleted and added again;
    runs already made keep their own copies."""
    existing = template_items(template)
    for place, spec in enumerate(items, start=1):
        values = {**fields_allowed(ITEM_FIELDS, dict(spec)), "position": place}
        item = existing[place - 1] if place <= len(existing) else None
        if item is None:
            record_save(TemplateItem(template=template, **values), actor=actor)
            continue
        differs = [name for name, value in values.items() if getattr(item, name) != value]
        for name in differs:
            setattr(item, name, values[name])
        if differs:
            record_save(item, actor=actor, changed=differs)
    for item in existing[len(items) :]:
        record_delete(item, actor=actor)


@transaction.atomic
def template_create(
    *, actor: AbstractBaseUser, items: Sequence[dict[str, Any]] = (), **fields: Any
) -> ChecklistTemplate:
    """A new template and its items (managers: the admin, the API, `config apply`)."""
    template = ChecklistTemplate(**fields_allowed(TEMPLATE_FIELDS, fields))
    template = record_save(template, actor=actor)
    _template_items_set(template, items, actor=actor)
    return template


@transaction.atomic
def template_update(
    *,
    template: ChecklistTemplate,
    actor: AbstractBaseUser,
    items: Sequence[dict[str, Any]] | None = None,
    **fields: Any,
) -> ChecklistTemplate:
    """Change a template and (when given) replace its items; runs keep what they copied."""
    require_permission(actor, "checklists.change_checklisttemplate")
    fields_allowed(TEMPLATE_FIELDS, fields)
    for name, value in fields.items():
        setattr(template, name, value)
    if fields:
        template = record_save(template, actor=actor, changed=list(fields))
    if items is not None:
        _template_items_set(template, items, actor=actor)
    return template
