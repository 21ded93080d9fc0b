"""What the live board shows, each list one query whatever the history holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Case, Count, IntegerField, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert
from checklists.models import RECURRING_KINDS, ChecklistRun, RunItem
from incidents.models import ACTIVE_STATES, Incident, Severity, State

BOARD_LIMIT = 200


def severity_rank() -> Case:
    return Case(
        *(When(severity=s, then=Value(n)) for n, s in enumerate(Severity.values)),
        output_field=IntegerField(),
    )


def _per_incident(rows, incident_field: str) -> Coalesce:
    """How many of `rows` belong to the incident of the outer query (0 for none)."""
    counted = rows.order_by().values(incident_field).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def clock(seconds: float) -> str:
    """m:ss or h:mm:ss, as the board's script ticks it (the words without the script)."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def board_rows(limit: int = BOARD_LIMIT, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every active incident, most serious first then oldest, with what a glance needs.

    Plain dicts with every word worked out here: the board renders up to `limit` rows every
    few seconds for every viewer, and templates read a dict far faster than an object."""
    now = now or timezone.now()
    incidents = (
        Incident.objects.filter(state__in=ACTIVE_STATES)
        .annotate(
            rank=severity_rank(),
            firing=_per_incident(
                Alert.objects.filter(incident=OuterRef("pk"), status=Alert.Status.FIRING),
                "incident",
            ),
            items_total=_per_incident(
                RunItem.objects.filter(run__incident=OuterRef("pk")), "run__incident"
            ),
            items_done=_per_incident(
                RunItem.objects.filter(run__incident=OuterRef("pk")).exclude(
                    status=RunItem.Status.OPEN
                ),
                "run__incident",
            ),
        )
        .order_by("rank", "detected_at", "pk")
        .values(
            "pk",
            "title",
            "severity",
            "state",
            "escalation_level",
            "next_escalation_at",
            "detected_at",
            "commander__username",
            "policy_snapshot",
            "firing",
            "items_total",
            "items_done",
        )[:limit]
    )
    # One reverse for all rows: the admin's change URL with the key swapped in.
    admin_url = reverse("admin:incidents_incident_change", args=[0]).replace("/0/", "/{}/")
    meanings = {s: Severity(s).meaning for s in Severity.values}
    states = dict(State.choices)
    rows = []
    for incident in incidents:
        levels = (incident["policy_snapshot"] or {}).get("levels", [])
        level = next((lv for lv in levels if lv.get("number") == incident["escalation_level"]), {})
        deadline, detected = incident["next_escalation_at"], incident["detected_at"]
        rows.append(
            {
                "key": f"INC-{incident['pk']}",
                "title": incident["title"],
                "severity": incident["severity"],
                "severity_meaning": meanings[incident["severity"]],
                "state": incident["state"],
                "state_label": states[incident["state"]],
                "level": incident["escalation_level"],
                "level_name": level.get("name", ""),
                "holders": ", ".join(level.get("teams", [])),
                "deadline": deadline.isoformat() if deadline else "",
                "until": clock((deadline - now).total_seconds()) if deadline else "",
                "commander": incident["commander__username"] or "",
                "detected": detected.isoformat(),
                "age": clock((now - detected).total_seconds()),
                "firing": incident["firing"],
                "items_done": incident["items_done"],
                "items_total": incident["items_total"],
                "admin_url": admin_url.format(incident["pk"]),
            }
        )
    return rows


def board_counts() -> dict[str, Any]:
    """Active incidents per severity and per state (one query)."""
    rows = (
        Incident.objects.filter(state__in=ACTIVE_STATES)
        .values_list("severity", "state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    by_severity = dict.fromkeys(Severity.values, 0)
    by_state = dict.fromkeys(ACTIVE_STATES, 0)
    for severity, state, n in rows:
        by_severity[severity] += n
        by_state[state] += n
    return {
        "severity": [(Severity(s), n) for s, n in by_severity.items()],
        "state": [(State(s), n) for s, n in by_state.items()],
        "total": sum(by_severity.values()),
    }


def maintenance_now(now: datetime | None = None) -> list[ChecklistRun]:
    """The current daily, weekly and monthly runs, and every maintenance run overdue."""
    now = now or timezone.now()
    current = Q(period_start__lte=now, due_at__gt=now)
    return list(
        ChecklistRun.objects.filter(kind__in=RECURRING_KINDS)
        .filter(current | ChecklistRun.overdue_q(now))
        .annotate(
            done=Count("items", filter=~Q(items__status=RunItem.Status.OPEN)),
            total=Count("items"),
        )
        .order_by("due_at", "pk")[:20]
    )
