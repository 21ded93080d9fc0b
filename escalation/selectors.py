"""Read-only queries shared by admin, API, e-mails and reports."""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from incidents.models import Incident, Severity
from notices.models import Notice, delivery_for

from .models import Escalation, EscalationPolicy, Step, plan_timeline


def incident_escalations(incident: Incident) -> QuerySet[Escalation]:
    return incident.escalations.select_related("actor").order_by("level")


def policy_simulate(
    *,
    policy: EscalationPolicy,
    severity: str,
    category: str,
    detected_at: datetime,
    snapshot: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The dry run: the same plan functions the sweeper uses, on a fresh snapshot (or the
    one the caller just took, when it simulates several severities)."""
    snapshot = snapshot or policy.snapshot(at=detected_at)
    delivery = delivery_for(severity)
    applies = policy.applies_to(severity=severity, category=category)
    return [
        _planned(step, detected_at, delivery, applies)
        for step in plan_timeline(snapshot, severity=severity, detected_at=detected_at)
    ]


def _planned(step: Step, detected_at: datetime, delivery: str, applies: bool) -> dict[str, Any]:
    return {
        "level": step.number,
        "name": step.level["name"],
        "offset_seconds": int((step.deadline - detected_at).total_seconds()),
        "at": step.deadline,
        "teams": step.level["teams"],
        "recipients": [r["address"] for r in step.level["recipients"]],
        "oncall": [
            {"schedule": entry["schedule"], "user": entry["user"], "name": entry["name"]}
            for entry in step.level.get("oncall", [])
        ],
        "delivery": delivery,
        "emergency_contact": step.level["emergency_contact"],
        "policy_applies": applies,
    }


def unreached_warning(policy_name: str, levels: list[int]) -> str:
    return _(
        "Policy %(policy)s: %(levels)s would notify nobody. Give the level's teams an e-mail "
        "address (TEAM_*_EMAIL for the runbook's teams) or members, or add an address."
    ) % {"policy": policy_name, "levels": ", ".join(f"L{n}" for n in levels)}


def policies_unreached() -> list[str]:
    """A warning per policy with a level that would notify nobody now."""
    policies = EscalationPolicy.objects.order_by("name")
    return [unreached_warning(p.name, levels) for p in policies if (levels := p.unreached_levels())]


def postmortem_escalations(incident: Incident) -> dict[str, Any]:
    """The postmortem's "escalation history": who was notified when, and how."""
    rows = [
        {
            "level": e.level,
            "name": e.name,
            "at": e.fired_at,
            "recipients": ", ".join(e.recipients) or "—",
            "delivery": e.get_delivery_display(),
        }
        for e in incident_escalations(incident)
    ]
    return {"escalations": rows or None, "highest_level": incident.escalation_level or None}


def monthly_escalations(start: datetime, end: datetime) -> dict[str, Any]:
    by_level = (
        Escalation.objects.filter(fired_at__gte=start, fired_at__lt=end)
        .values_list("level")
        .annotate(n=Count("pk"))
        .order_by("level")
    )
    notices = (
        Notice.objects.filter(created_at__gte=start, created_at__lt=end)
        .values_list("status")
        .annotate(n=Count("pk"))
        .order_by("status")
    )
    labels = dict(Notice.Status.choices)
    return {
        "escalations_by_level": list(by_level) or None,
        "notices": [(str(labels[s]), n) for s, n in notices] or None,
    }


def _mean_minutes(deltas) -> float | None:
    values = [d.total_seconds() / 60 for d in deltas]
    return round(statistics.fmean(values), 1) if values else None


def daily_trend(*, start: datetime, end: datetime) -> dict[str, Any]:
    """The daily report's figures for [start, end), JSON-ready (kept on the report notice).

    opened: detected in the window; resolved: resolved in the window; MTTA: mean time from
    detection to acknowledgement of incidents acknowledged in the window; MTTR: mean time
    from detection to resolution of incidents resolved in the window (minutes).
    """
    opened = Incident.objects.filter(detected_at__gte=start, detected_at__lt=end)
    resolved = Incident.objects.filter(resolved_at__gte=start, resolved_at__lt=end)
    acknowledged = Incident.objects.filter(acknowledged_at__gte=start, acknowledged_at__lt=end)
    rows = []
    for severity in Severity.values:
        rows.append(
            {
                "severity": severity,
                "opened": opened.filter(severity=severity).count(),
                "resolved": resolved.filter(severity=severity).count(),
                "mtta_minutes": _mean_minutes(
                    i.time_to_acknowledge for i in acknowledged.filter(severity=severity)
                ),
                "mttr_minutes": _mean_minutes(
                    i.time_to_resolve for i in resolved.filter(severity=severity)
                ),
            }
        )
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "rows": rows,
        "opened": opened.count(),
        "resolved": resolved.count(),
    }
