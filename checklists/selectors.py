"""Read-only queries several callers share (API, admin, close gating, the sweeper)."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from .models import ChecklistRun, KnownProblem, RunItem

if TYPE_CHECKING:  # the incident's close rule reads this module: no import back at run time
    from incidents.models import Incident


# What a run item shows beside its text, by the template item it came from (the backup job's
# last ping beside バックアップ状態確認). Named by path, as the outbox names its renderers, so
# that checklists never imports the apps that provide them.
ITEM_STATUS_PROVIDERS = ["heartbeats.selectors.checklist_item_statuses"]


def item_statuses(*, now: datetime | None = None) -> dict[int, str]:
    """Template item id → its live status line; each provider is one query."""
    now = now or timezone.now()
    found: dict[int, str] = {}
    for path in ITEM_STATUS_PROVIDERS:
        for item, line in import_string(path)(now=now).items():
            found[item] = f"{found[item]} / {line}" if item in found else line
    return found


def runs_with_items() -> QuerySet[ChecklistRun]:
    return ChecklistRun.objects.select_related("incident", "template").prefetch_related(
        Prefetch("items", queryset=RunItem.objects.select_related("by").order_by("position", "pk"))
    )


def incident_runs(incident: Incident) -> QuerySet[ChecklistRun]:
    return runs_with_items().filter(incident=incident).order_by("pk")


def incident_missing_items(incident: Incident) -> list[str]:
    """Close requirement: each required item neither done nor skipped, as "Run #n: text"."""
    if incident.pk is None:
        return []
    return [
        f"{run.name} #{item.position}: {item.text}"
        for run in incident_runs(incident)
        for item in run.missing_required()
    ]


def runs_overdue_unnotified(*, now: datetime) -> QuerySet[ChecklistRun]:
    return ChecklistRun.objects.filter(
        ChecklistRun.overdue_q(now), overdue_notified_at__isnull=True
    ).order_by("due_at", "pk")


def operations_team_addresses() -> list[str]:
    """OPERATIONS_EMAIL, or else the addresses of the active members of the operations role."""
    if settings.OPERATIONS_EMAIL:
        return list(settings.OPERATIONS_EMAIL)
    members = get_user_model().objects.filter(
        groups__name="operations", is_active=True, email__gt=""
    )
    return sorted(set(members.values_list("email", flat=True)))


# --- known problems --------------------------------------------------------------------

_ASCII = re.compile(r"^[\x00-\x7f]+$")
_WORD = re.compile(r"[a-z0-9_]{2,}")


def _normalize(text: str) -> str:
    # Full-width digits and letters (５００, ＡＰＩ) match their ASCII keywords.
    return unicodedata.normalize("NFKC", text or "").lower()


def _keyword_hits(problem: KnownProblem, text: str) -> int:
    hits = 0
    for keyword in problem.keyword_list():
        keyword = _normalize(keyword)
        if _ASCII.match(keyword):
            # "500" must not match "1500ms"; Japanese has no spaces, so substring there.
            if re.search(rf"(?<![a-z0-9]){re.escape(keyword)}(?![a-z0-9])", text):
                hits += 1
        elif keyword in text:
            hits += 1
    return hits


def _fulltext_ranks(words: list[str]) -> dict[int, float]:
    """PostgreSQL only: ts_rank of each problem's English text against the incident's words."""
    if not words:
        return {}
    query = SearchQuery(words[0], config="english")
    for word in words[1:]:
        query |= SearchQuery(word, config="english")
    vector = SearchVector(
        "title_en", "symptom_en", "causes_en", "keywords", config="english"
    ) + SearchVector("title_ja", "symptom_ja", "causes_ja", config="simple")
    ranked = KnownProblem.objects.annotate(rank=SearchRank(vector, query)).filter(rank__gt=0)
    return dict(ranked.values_list("pk", "rank"))


def known_problems_for(incident: Incident, limit: int = 5) -> list[KnownProblem]:
    """Known problems matching the incident's title, summary and alert labels, best first.

    Curated keywords decide (they work for Japanese, which has no word boundaries); on
    PostgreSQL full-text rank over the English text breaks ties and finds the unlisted words.
    """
    labels = " ".join(
        f"{name} {value}"
        for alert in incident.alerts.all()
        for name, value in sorted(alert.labels.items())
    )
    text = _normalize(f"{incident.title}\n{incident.summary}\n{labels}")
    problems = list(KnownProblem.objects.all())
    ranks: dict[int, float] = {}
    if connection.vendor == "postgresql":
        ranks = _fulltext_ranks(sorted(set(_WORD.findall(text))))
    scored = []
    for problem in problems:
        score = _keyword_hits(problem, text) + min(ranks.get(problem.pk, 0.0), 0.99)
        if score > 0:
            problem.score = round(score, 3)
            scored.append(problem)
    scored.sort(key=lambda p: (-p.score, p.pk))
    return scored[:limit]
