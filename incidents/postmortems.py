"""事後対応 → レポート作成: postmortem drafts, action items and the Markdown report.

The report is a file a team commits (ドキュメント更新: docs/incidents/), so the same
incident data must always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _

from config.documents import tidy_markdown, write_atomically

from .models import (
    JST,
    Action,
    ActionItem,
    Incident,
    Postmortem,
    State,
    TimelineEvent,
)
from .selectors import incident_timeline

# Other apps add report sections (escalation history, checklists): each returns context.
report_context_providers: list[Callable[[Incident], dict[str, Any]]] = []

POSTMORTEM_FIELDS = (
    "impact_users",
    "impact_duration",
    "impact_data",
    "contributing_factors",
    "lessons_learned",
)
INCIDENT_FIELDS = ("summary", "impact", "root_cause", "resolution")
TRANSITION_KINDS = set(Action.values)


def postmortem_draft(*, incident: Incident) -> Postmortem:
    postmortem, _created = Postmortem.objects.get_or_create(incident=incident)
    return postmortem


@transaction.atomic
def postmortem_update(*, incident: Incident, actor: AbstractBaseUser, **fields: Any) -> Postmortem:
    """Edit the postmortem; incident fields go through the incident service and its timeline."""
    from .services import incident_update

    unknown = set(fields) - set(POSTMORTEM_FIELDS) - set(INCIDENT_FIELDS)
    if unknown:
        raise ValidationError({name: [_("This field cannot be changed.")] for name in unknown})
    if not actor.has_perm("incidents.change_incident"):
        raise PermissionDenied
    incident_changes = {k: v for k, v in fields.items() if k in INCIDENT_FIELDS}
    if incident_changes:
        incident = incident_update(incident=incident, actor=actor, **incident_changes)
    postmortem = postmortem_draft(incident=incident)
    changed = [k for k in POSTMORTEM_FIELDS if k in fields and getattr(postmortem, k) != fields[k]]
    for name in changed:
        setattr(postmortem, name, fields[name])
    if changed:
        postmortem.save(update_fields=[*changed, "updated_at"])
    return postmortem


def report_filename(incident: Incident) -> str:
    """YYYY-MM-DD-INC-<n>-<slug>.md, dated by detection in JST; the key alone without ASCII."""
    day = incident.detected_at.astimezone(JST).strftime("%Y-%m-%d")
    slug = slugify(incident.title)[:60].strip("-")
    return f"{day}-{incident.key}-{slug}.md" if slug else f"{day}-{incident.key}.md"


def report_dir() -> Path:
    return Path(settings.POSTMORTEM_DIR)


def _state_durations(
    incident: Incident, events: list[TimelineEvent]
) -> list[tuple[str, timedelta]]:
    """Time spent in each state, in lifecycle order, from the recorded transitions."""
    points = [(incident.detected_at, State.DETECTED.value)]
    points += [(e.at, e.data.get("to")) for e in events if e.kind in TRANSITION_KINDS]
    spent: dict[str, timedelta] = {}
    for (start, state), (end, _next) in zip(points, points[1:], strict=False):
        spent[state] = spent.get(state, timedelta()) + max(end - start, timedelta())
    return [(State(s).label, spent[s]) for s in State.values if s in spent]


def report_context(incident: Incident) -> dict[str, Any]:
    incident = (
        Incident.objects.select_related("commander", "created_by")
        .prefetch_related("alerts__integration")
        .get(pk=incident.pk)
    )
    events = list(incident_timeline(incident))
    postmortem = Postmortem.objects.filter(incident=incident).first() or Postmortem(
        incident=incident
    )
    end = incident.closed_at or incident.resolved_at
    context = {
        "incident": incident,
        "postmortem": postmortem,
        "severity_meaning": incident.severity_meaning,
        "events": events,
        "alerts": list(incident.alerts.all()),  # prefetched, in the model's order
        "action_items": list(incident.action_items.select_related("owner")),
        "time_to_acknowledge": incident.time_to_acknowledge,
        "time_to_resolve": incident.time_to_resolve,
        "duration": end - incident.detected_at if end else None,
        "state_durations": _state_durations(incident, events),
        "highest_level": getattr(incident, "escalation_level", None),
        "escalations": None,
        "checklists": None,
    }
    for provider in report_context_providers:
        context.update(provider(incident))
    return context


def report_render(*, incident: Incident, language: str | None = None) -> str:
    language = language or settings.POSTMORTEM_LANGUAGE
    with translation.override(language):
        text = render_to_string("incidents/postmortem.md", report_context(incident))
    return tidy_markdown(text)


def report_write(*, incident: Incident, language: str | None = None) -> Path:
    path = write_atomically(
        report_dir() / report_filename(incident),
        report_render(incident=incident, language=language),
    )
    postmortem = postmortem_draft(incident=incident)
    Postmortem.objects.filter(pk=postmortem.pk).update(
        report_path=str(path), report_generated_at=timezone.now()
    )
    return path


def report_generate(*, incident: Incident, actor: AbstractBaseUser) -> Path:
    """A manager's "generate report" (any time, any state)."""
    if not actor.has_perm("incidents.generate_report"):
        raise PermissionDenied
    return report_write(incident=incident)


@transaction.atomic
def action_item_add(
    *, incident: Incident, actor: AbstractBaseUser, title: str, **fields: Any
) -> ActionItem:
    if not actor.has_perm("incidents.add_actionitem"):
        raise PermissionDenied
    item = ActionItem(incident=incident, title=title, **fields)
    item.full_clean()
    item.save()
    return item
