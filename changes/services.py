"""The only code that changes change records: a change started (with its runbook checklist),
finished (by the API, the admin, PagerDuty's Change Events, or its run completing), linked to
the incidents it caused or fixed, and its record written to docs/changes/.

A release opens a maintenance window over its service for its expected duration (unless told
not to), and closes it when it finishes: the alerts a deploy makes fire page nobody, and those
still firing when it is over open their incidents then.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from checklists.models import ChecklistRun, ChecklistTemplate
from checklists.services import checklist_run_create
from config.base import SYSTEM, ActionNotAllowed, fields_allowed, require_permission, row_lock
from incidents.models import Incident
from maintenance.selectors import window_by_reference
from maintenance.services import close_window, open_window

from . import records
from .models import Change, Kind, Origin, Result

Actor = AbstractBaseUser | AnonymousUser
logger = logging.getLogger(__name__)

ADD_PERMISSION = "changes.add_change"
FINISH_PERMISSION = "changes.finish_change"
CHANGE_PERMISSION = "changes.change_change"
# What may be corrected after the start; times, result and links have services of their own.
UPDATE_FIELDS = ("title", "summary", "service", "version", "who", "links")


class Relation:
    CAUSED = "caused"
    FIXED = "fixed"
    ALL = (CAUSED, FIXED)


def links_validate(links: Any) -> list[dict[str, str]]:
    """PagerDuty's shape: [{"href": "https://…", "text": "…"}]; text is optional."""
    if not isinstance(links, list):
        raise ValidationError({"links": [_("Must be a list of {href, text} objects.")]})
    clean = []
    for link in links:
        href = link.get("href") if isinstance(link, dict) else None
        text = link.get("text", "") if isinstance(link, dict) else None
        if not isinstance(href, str) or not href.strip() or not isinstance(text, str):
            raise ValidationError({"links": [_("Each link needs an href and an optional text.")]})
        clean.append(
            {"href": href.strip(), "text": text.strip()} if text.strip() else {"href": href.strip()}
        )
    return clean


def _template_for(kind: str) -> ChecklistTemplate | None:
    """The runbook procedure of this kind of change (デプロイ手順, マイグレーション); a
    configuration change has none."""
    return ChecklistTemplate.objects.filter(kind=kind, is_active=True).order_by("pk").first()


def _link(change: Change, incidents: Iterable[Incident], relation: str) -> None:
    related = change.caused_incidents if relation == Relation.CAUSED else change.fixed_incidents
    incidents = list(incidents)
    if incidents:
        related.add(*incidents)


def _record_after_commit(change: Change) -> None:
    pk = change.pk
    transaction.on_commit(
        lambda: records.record_write(change=Change.objects.get(pk=pk)), robust=True
    )


@transaction.atomic
def change_start(
    *,
    actor: Actor,
    kind: str,
    title: str,
    origin: str = Origin.API,
    started_at: datetime | None = None,
    service: str = "",
    version: str = "",
    who: str = "",
    summary: str = "",
    source: str = "",
    details: dict | None = None,
    links: list | None = None,
    reverts: Change | None = None,
    caused_incidents: Iterable[Incident] = (),
    fixed_incidents: Iterable[Incident] = (),
    checklist: bool = True,
    recorded_by: AbstractBaseUser | None = None,
    maintenance_window: bool = True,
    window_minutes: int | None = None,
) -> Change:
    """Record a change as it begins, with a run of its runbook checklist (`checklist`) to tick
    through; it finishes when the run completes or `change_finish` says so. `recorded_by`:
    who to name when the actor is Hikeshi itself (an integration's service account).

    A release with a service opens a maintenance window over it (`maintenance_window`) for
    `window_minutes` (CHANGE_WINDOW_MINUTES by default), closed when it finishes."""
    require_permission(actor, ADD_PERMISSION)
    if reverts is not None and reverts.pk is None:
        raise ValidationError({"reverts": [_("No such change.")]})
    change = Change(
        kind=kind,
        title=(title or "").strip(),
        origin=origin,
        started_at=started_at or timezone.now(),
        service=(service or "").strip(),
        version=(version or "").strip(),
        who=(who or "").strip(),
        summary=summary or "",
        source=source or "",
        details=details or {},
        links=links_validate(links or []),
        reverts=reverts,
        recorded_by=recorded_by or (actor if actor.is_authenticated else None),
    )
    change.full_clean(exclude=["checklist_run"])
    template = _template_for(kind) if checklist else None
    if template is not None:
        change.checklist_run = checklist_run_create(template=template)
    change.save()
    _link(change, caused_incidents, Relation.CAUSED)
    _link(change, fixed_incidents, Relation.FIXED)
    if maintenance_window and change.kind == Kind.RELEASE and change.service:
        _window_open(change, minutes=window_minutes or settings.CHANGE_WINDOW_MINUTES)
    return change


def _window_open(change: Change, *, minutes: int) -> None:
    """The release's window, opened by Hikeshi on behalf of whoever recorded the change.

    One already over its service (a manager's, say) covers the release too: the change is
    recorded all the same, without a window of its own, rather than failing the deploy."""
    try:
        with transaction.atomic():
            open_window(
                actor=SYSTEM,
                opened_by=change.recorded_by or SYSTEM,
                service=change.service,
                starts_at=change.started_at,
                ends_at=change.started_at + timedelta(minutes=minutes),
                reason=f"{change.key} {change.title}"[:500],
                reference=change.key,
            )
    except ValidationError as refusal:
        logger.info("%s opened no maintenance window: %s", change.key, refusal.messages)


def _window_close(change: Change) -> None:
    """The release is over: its window ends now, and the alerts it held still firing open."""
    window = window_by_reference(change.key)
    if window is not None:
        close_window(window=window, actor=SYSTEM)


def _finish(change: Change, *, result: str, finished_at: datetime | None) -> Change:
    """Under the change's lock: the end and the result, checked, then the record after commit."""
    if change.is_finished:
        raise ActionNotAllowed(
            _("%(change)s is already finished.") % {"change": change.key}, action="finish"
        )
    if result not in Result.values:
        raise ValidationError({"result": [_("Choose succeeded, failed or rolled_back.")]})
    change.finished_at = finished_at or timezone.now()
    change.result = result
    change.full_clean(exclude=["checklist_run"])
    change.save(update_fields=["finished_at", "result", "updated_at"])
    _window_close(change)
    if change.kind == Kind.ROLLBACK and result == Result.SUCCEEDED and change.reverts_id:
        _mark_rolled_back(change.reverts)
    _record_after_commit(change)
    return change


def _mark_rolled_back(change: Change) -> None:
    """A successful rollback is the reverted change's end: its record says so from now on."""
    change = row_lock(change)
    if change.is_finished and change.result != Result.ROLLED_BACK:
        change.result = Result.ROLLED_BACK
        change.save(update_fields=["result", "updated_at"])
    if change.is_finished:
        _record_after_commit(change)


@transaction.atomic
def change_finish(
    *,
    change: Change,
    actor: Actor,
    result: str = Result.SUCCEEDED,
    finished_at: datetime | None = None,
) -> Change:
    """The change is over (the pipeline or a person says so); a finished change is a 409."""
    require_permission(actor, FINISH_PERMISSION)
    return _finish(row_lock(change), result=result, finished_at=finished_at)


@transaction.atomic
def change_record(
    *, actor: Actor, result: str = Result.SUCCEEDED, finished_at: datetime | None = None, **start
) -> Change:
    """A change reported once it is over (PagerDuty's Change Events): started and finished in
    one step, with no checklist to tick."""
    require_permission(actor, FINISH_PERMISSION)
    start.pop("window_minutes", None)
    start["maintenance_window"] = False  # over already: nothing left to hold
    change = change_start(actor=actor, checklist=False, **start)
    return _finish(change, result=result, finished_at=finished_at or change.started_at)


@transaction.atomic
def change_update(*, change: Change, actor: Actor, **fields: Any) -> Change:
    """Correct what a change says (its title, version, who…); a finished one is written again."""
    require_permission(actor, CHANGE_PERMISSION)
    fields_allowed(UPDATE_FIELDS, fields)
    if "links" in fields:
        fields["links"] = links_validate(fields["links"])
    change = row_lock(change)
    for name, value in fields.items():
        setattr(
            change, name, value.strip() if isinstance(value, str) and name != "summary" else value
        )
    change.full_clean(exclude=["checklist_run"])
    change.save()
    if change.is_finished:
        _record_after_commit(change)
    return change


@transaction.atomic
def change_link_incidents(
    *,
    change: Change,
    actor: Actor,
    relation: str,
    add: Iterable[Incident] = (),
    remove: Iterable[Incident] = (),
) -> Change:
    """Say that the change caused (or fixed) incidents, or no longer; both sides read it."""
    require_permission(actor, CHANGE_PERMISSION)
    if relation not in Relation.ALL:
        raise ValidationError({"relation": [_("Choose caused or fixed.")]})
    change = row_lock(change)
    related = change.caused_incidents if relation == Relation.CAUSED else change.fixed_incidents
    if remove := list(remove):
        related.remove(*remove)
    _link(change, add, relation)
    if change.is_finished:
        _record_after_commit(change)
    return change


def change_run_changed(*, run: ChecklistRun, actor: Actor) -> None:
    """Called by checklists inside a tick's transaction: a change's run completing finishes
    the change (succeeded, unless a result was decided already); a finished change's record
    is written again with the tick."""
    change = Change.objects.filter(checklist_run=run).first()
    if change is None:
        return
    change = row_lock(change)
    if not change.is_finished and run.completed_at is not None:
        finished_at = max(run.completed_at, change.started_at)
        _finish(change, result=Result.SUCCEEDED, finished_at=finished_at)
    elif change.is_finished:
        _record_after_commit(change)
