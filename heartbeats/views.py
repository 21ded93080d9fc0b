"""The ping endpoints, healthchecks.io-style: `/ping/<uuid>`, `/ping/<uuid>/start`,
`/ping/<uuid>/fail`, by GET, HEAD or POST. No login: the uuid is the secret. Every answer is
JSON, and nothing a client sends is a 500: an unknown or malformed uuid is a 404, a heartbeat
pinged over its rate a 429, and neither writes anything."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django_ratelimit.core import get_usage

from config.api import error_body

from . import services
from .models import Heartbeat

METHODS = ("GET", "HEAD", "POST")


def _error(status: int, code: str, detail: str, **headers) -> JsonResponse:
    response = JsonResponse(error_body(code, detail), status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def _throttled(request, heartbeat: Heartbeat) -> int | None:
    """Seconds to wait when this heartbeat is pinged over its rate, else None."""
    usage = get_usage(
        request,
        group=f"heartbeat:{heartbeat.pk}",
        key=lambda group, request: str(heartbeat.pk),
        rate=settings.HEARTBEAT_PING_RATE_LIMIT,
        increment=True,
    )
    if usage and usage["should_limit"]:
        return max(1, int(usage["time_left"]))
    return None


def _body(request) -> bytes | None:
    """At most one byte more than the log keeps (so we know it was cut), never the rest of a
    huge upload; None when the client went away mid-body."""
    try:
        return request.read(settings.HEARTBEAT_LOG_BYTES + 1)
    except OSError:
        return None


def _target(path: str) -> tuple[uuid.UUID | None, str]:
    """(uuid, kind) from `<uuid>`, `<uuid>/start` or `<uuid>/fail`, with or without a trailing
    slash (a slash redirect would lose a POST's body); (None, "") for anything else."""
    token, _slash, kind = path.removesuffix("/").partition("/")
    if kind not in ("", Heartbeat.Kind.START, Heartbeat.Kind.FAIL):
        return None, ""
    try:
        return uuid.UUID(token), kind or Heartbeat.Kind.SUCCESS
    except ValueError:
        return None, ""


@csrf_exempt
def ping(request, path: str) -> JsonResponse:
    if request.method not in METHODS:
        return _error(
            405, "method_not_allowed", _("Ping with GET, HEAD or POST."), Allow=", ".join(METHODS)
        )
    key, kind = _target(path)
    heartbeat = Heartbeat.objects.filter(uuid=key).first() if key else None
    if heartbeat is None:
        return _error(404, "not_found", _("No heartbeat has this ping URL."))
    wait = _throttled(request, heartbeat)
    if wait is not None:
        return _error(
            429, "throttled", _("Too many pings for this heartbeat."), **{"Retry-After": str(wait)}
        )
    body = _body(request)
    if body is None:
        return _error(400, "bad_request", _("The request body could not be read."))
    heartbeat = services.heartbeat_ping(heartbeat=heartbeat, kind=kind, body=body)
    return JsonResponse(
        {
            "heartbeat": heartbeat.name,
            "kind": kind,
            "status": heartbeat.status,
            "log_truncated": heartbeat.last_log_truncated,
        }
    )
