"""The runbook's addresses (ダッシュボードURL): システム状態 `/api/health`, `/metrics`."""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.auth import TokenAuthentication

from . import health as checks


def may_see_details(request) -> bool:
    """Figures and errors: for a staff session or an API token; load balancers get statuses."""
    if request.user.is_authenticated and request.user.is_staff:
        return True
    try:
        return TokenAuthentication().authenticate(Request(request)) is not None
    except AuthenticationFailed:
        return False


@never_cache
@require_GET
def health(request):
    """システム状態: 200 while ok or degraded, 503 when failing, naming what fails."""
    results = checks.run_checks()
    detailed = may_see_details(request)
    body = {}
    for result in results:
        entry = {"status": checks.check_status(result)}
        if detailed:
            entry |= result.check.figures
            if result.error is not None:
                entry["error"] = result.error.message
        body[checks.check_name(result.check)] = entry
    status = checks.overall_status(results)
    failing = [name for name, entry in body.items() if entry["status"] == "failing"]
    return JsonResponse(
        {
            "status": status,
            "checks": body,
            "failing": failing,
            "time": timezone.now().isoformat(),
        },
        status=503 if status == "failing" else 200,
    )


@never_cache
@require_GET
def live(request):
    """Liveness for a load balancer that needs only this process and its database: one
    `SELECT 1` (and the baseline the benchmarks compare against)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse({"status": "failing"}, status=503)
    return JsonResponse({"status": "ok"})
