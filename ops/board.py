"""The runbook's dashboards. メイン監視 `/ops/monitoring`: what is burning and what escalates
next, at a glance; 詳細分析 `/ops/analytics`: the charts.

The page is a server-rendered table that htmx refreshes every few seconds (it reads fine
without JavaScript); countdowns tick in the browser. Staff who may acknowledge get the button.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from django.views.decorators.http import require_GET, require_POST

from config.base import ActionNotAllowed
from heartbeats.selectors import heartbeats_rows
from incidents.models import Action, Category, Severity
from incidents.selectors import incident_by_key
from incidents.services import incident_transition
from maintenance.selectors import windows_listed

from . import analytics, health, prometheus, selectors

REFRESH_SECONDS = 5
# The health checks' names and states in the reader's language (the JSON keeps its names).
CHECK_LABELS = {
    "database": gettext_lazy("database"),
    "broker": gettext_lazy("broker"),
    "notices worker": gettext_lazy("notices worker"),
    "timers worker": gettext_lazy("timers worker"),
    "chat worker": gettext_lazy("chat worker"),
    "scheduler": gettext_lazy("scheduler"),
    "alert processor": gettext_lazy("alert processor"),
    "outbox": gettext_lazy("outbox"),
    "alert deliveries": gettext_lazy("alert deliveries"),
    "overdue escalations": gettext_lazy("overdue escalations"),
}
STATUS_LABELS = {
    "ok": gettext_lazy("working"),
    "degraded": gettext_lazy("degraded"),
    "failing": gettext_lazy("failing"),
}


def _require_staff(request) -> None:
    if not (request.user.is_staff and request.user.has_perm("incidents.view_incident")):
        raise PermissionDenied


def _health_summary() -> dict:
    results = health.run_checks()
    status = health.overall_status(results)
    return {
        "status": status,
        "label": STATUS_LABELS[status],
        "problems": [
            (
                CHECK_LABELS.get(name := health.check_name(r.check), name),
                STATUS_LABELS[health.check_status(r)],
            )
            for r in results
            if r.error is not None
        ],
    }


def board_context(request) -> dict:
    return {
        "rows": selectors.board_rows(),
        "counts": selectors.board_counts(),
        "runs": selectors.maintenance_now(),
        "windows": windows_listed(limit=10),
        "heartbeats": heartbeats_rows(now=timezone.now()),
        "health": _health_summary(),
        "vitals": prometheus.vitals() if settings.PROMETHEUS_URL else None,
        "may_acknowledge": request.user.has_perm("incidents.acknowledge_incident"),
        "ack_url_prefix": reverse("ops-monitoring-acknowledge", args=["-"]).removesuffix(
            "-/acknowledge"
        ),
        "acknowledge_label": pgettext("button", "Acknowledge"),
        "refresh_seconds": REFRESH_SECONDS,
        "now": timezone.now(),
    }


@login_required
@require_GET
def board(request):
    _require_staff(request)
    return render(request, "ops/board.html", board_context(request))


@login_required
@require_GET
def board_section(request):
    """The part htmx swaps in every REFRESH_SECONDS."""
    _require_staff(request)
    return render(request, "ops/_board.html", board_context(request))


@login_required
@require_POST
def board_acknowledge(request, key: str):
    _require_staff(request)
    incident = incident_by_key(key)
    if incident is None:
        raise Http404
    try:
        incident_transition(incident=incident, action=Action.ACKNOWLEDGE, actor=request.user)
    except PermissionDenied:
        messages.error(request, _("Your role may not do this."))
    except ActionNotAllowed as refusal:
        messages.warning(request, str(refusal))
    else:
        messages.success(request, _("%(key)s acknowledged.") % {"key": incident.key})
    if request.headers.get("HX-Request"):
        return render(request, "ops/_board.html", board_context(request))
    return redirect("ops-monitoring")


@login_required
@require_GET
def analytics_page(request):
    """詳細分析: the charts for the range and filters asked for; `?csv=<chart>` downloads one."""
    _require_staff(request)
    filters, errors = analytics.Filters.from_query(request.GET)
    found = analytics.charts(filters)
    if name := request.GET.get("csv"):
        chart = next((c for c in found if c.name == name), None)
        if chart is None:
            raise Http404
        response = HttpResponse(analytics.chart_csv(chart), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="hikeshi-{chart.name}-{filters.start}-{filters.end}.csv"'
        )
        return response
    return render(
        request,
        "ops/analytics.html",
        {
            "charts": found,
            "filters": filters,
            "errors": errors,
            "severities": Severity.values,
            "categories": Category.choices,
            "query": request.GET.urlencode(),
        },
        status=400 if errors else 200,
    )
