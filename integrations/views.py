"""Webhook endpoints: authenticate, limit, validate, store for the alert processor. Answers
in each sender's own format (PagerDuty clients read PagerDuty's error bodies)."""

from __future__ import annotations

import hashlib
import hmac
import os

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_ratelimit.core import get_usage

from config.api import error_body, json_storable

from . import parsers, services
from .models import Integration

ONE_MIB = 1024 * 1024
PAGERDUTY_MAX_BYTES = 512 * 1024


def _too_large(request, limit: int) -> bool:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    return declared > limit or len(request.body) > limit


def _throttled(request, integration: Integration) -> int | None:
    """Seconds to wait when this integration is over its rate, else None."""
    usage = get_usage(
        request,
        group=f"integration:{integration.pk}",
        key=lambda group, request: str(integration.pk),
        rate=settings.INTEGRATION_RATE_LIMIT,
        increment=True,
    )
    if usage and usage["should_limit"]:
        return max(1, int(usage["time_left"]))
    return None


def _bearer(request) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _says_json(request) -> bool:
    """Every sender we speak to posts JSON and says so; a form, a file or plain text is a
    client's mistake, refused before it is read."""
    media_type = request.content_type.lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _json(request) -> tuple[object, str]:
    """(body, "") or (None, what is wrong with it)."""
    try:
        return json_storable(request.body), ""
    except ValueError as error:
        return None, str(error)


def _respond(body: dict, status: int, **headers) -> JsonResponse:
    response = JsonResponse(body, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _error(status: int, code: str, detail: str, fields=None, **headers) -> JsonResponse:
    return _respond(error_body(code, detail, fields), status, **headers)


def _webhook(request, kinds: tuple[str, ...], verify=None) -> JsonResponse:
    if _too_large(request, ONE_MIB):
        return _error(413, "payload_too_large", "The payload is over 1 MiB.")
    integration = services.integration_for_secret(_bearer(request), kinds=kinds)
    if integration is None:
        return _error(401, "authentication_failed", "Wrong, unknown or disabled secret.")
    if verify and not verify(request, integration):
        return _error(401, "bad_signature", "The signature header is missing or wrong.")
    if wait := _throttled(request, integration):
        return _error(429, "throttled", "Too many requests.", Retry_After=str(wait))
    if not _says_json(request):
        # 400 like the API's answer to a body it has no parser for: bad input.
        return _error(400, "unsupported_media_type", "The body must be application/json.")
    body, wrong = _json(request)
    if wrong:
        return _error(400, "parse_error", f"The body is not JSON that can be stored: {wrong}")
    try:
        events = parsers.alertmanager_events(integration, body)
    except parsers.PayloadError as err:
        return _error(400, "invalid", "The payload is not a valid alert group.", err.errors)
    services.delivery_accept(integration=integration, body=body)
    return JsonResponse({"status": "accepted", "alerts": len(events)})


@csrf_exempt
@require_POST
def alertmanager(request):
    return _webhook(request, (Integration.Kind.ALERTMANAGER,))


def _grafana_signature_ok(request, integration: Integration) -> bool:
    if not integration.hmac_secret_env:
        return True
    secret = os.environ.get(integration.hmac_secret_env, "")
    given = request.headers.get("X-Grafana-Alerting-Signature", "")
    if not secret or not given:
        return False
    timestamp = request.headers.get("X-Grafana-Alerting-Signature-Timestamp")
    message = f"{timestamp}:".encode() + request.body if timestamp else request.body
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


@csrf_exempt
@require_POST
def grafana(request):
    return _webhook(request, (Integration.Kind.GRAFANA,), verify=_grafana_signature_ok)


def _pagerduty_answer(
    status: int, message: str, errors=(), kind: str = "invalid event", **headers
) -> JsonResponse:
    """An answer in PagerDuty's own shape: its clients read `status` and `errors`."""
    return _respond({"status": kind, "message": message, "errors": list(errors)}, status, **headers)


def _pagerduty_invalid(errors: list[str]) -> JsonResponse:
    return _pagerduty_answer(400, "Event object is invalid", errors)


def _pagerduty_accepted(request, parse) -> tuple[Integration | None, dict | None, object]:
    """What both PagerDuty endpoints refuse, in PagerDuty's order and words: too large, not
    JSON, an invalid event (by `parse`), an unknown routing key, too many. Returns the
    integration and the parsed event, or the refusal to answer."""
    if _too_large(request, PAGERDUTY_MAX_BYTES):
        return None, None, _pagerduty_answer(413, "Request entity too large")
    if not _says_json(request):
        return None, None, _pagerduty_invalid(["Content-Type must be application/json"])
    body, wrong = _json(request)
    if wrong:
        return None, None, _pagerduty_invalid([f"Event object is not valid JSON: {wrong}"])
    try:
        body = parse(body)
    except parsers.PayloadError as err:
        return None, None, _pagerduty_invalid(err.errors)
    integration = services.integration_for_secret(
        body["routing_key"], kinds=(Integration.Kind.PAGERDUTY,)
    )
    if integration is None:
        return None, None, _pagerduty_answer(401, "Invalid routing key")
    if wait := _throttled(request, integration):
        return (
            None,
            None,
            _pagerduty_answer(
                429,
                "Requests for this service are arriving too quickly. Please retry later.",
                kind="throttle event",
                Retry_After=str(wait),
            ),
        )
    return integration, body, None


@csrf_exempt
@require_POST
def pagerduty_enqueue(request):
    """PagerDuty Events API v2 `POST /v2/enqueue`, answered as PagerDuty answers."""
    integration, body, refusal = _pagerduty_accepted(request, parsers.pagerduty_event)
    if refusal:
        return refusal
    services.delivery_accept(integration=integration, body=body)
    return JsonResponse(
        {"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]},
        status=202,
    )


@csrf_exempt
@require_POST
def pagerduty_change_enqueue(request):
    """PagerDuty Change Events `POST /v2/change/enqueue`, answered as PagerDuty answers: a
    pipeline that reports its deploys to PagerDuty reports them here unchanged. Recorded at
    once (a change event is rare and opens nothing), as a finished change."""
    integration, body, refusal = _pagerduty_accepted(request, parsers.pagerduty_change_event)
    if refusal:
        return refusal
    try:
        services.pagerduty_change_record(integration=integration, body=body)
    except ValidationError as err:
        return _pagerduty_invalid(err.messages)
    return JsonResponse({"status": "success", "message": "Change event processed"}, status=202)
