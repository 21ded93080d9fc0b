"""Foreign alert formats → `AlertEvent`s. Unknown fields are ignored; missing ones are named."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime

from alerts.events import AlertEvent
from changes.models import Kind as ChangeKind
from changes.models import Result as ChangeResult

from .models import Integration

PAGERDUTY_SEVERITIES = {"critical", "error", "warning", "info"}
PAGERDUTY_ACTIONS = {"trigger", "acknowledge", "resolve"}
# Before this, a sender's time is a zero or a reset clock, not when an alert started (and no
# incident may be detected before it: incidents.services.EARLIEST_DETECTION).
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
CHANGE_KINDS = set(ChangeKind.values)
CHANGE_RESULTS = set(ChangeResult.values)


class PayloadError(ValueError):
    def __init__(self, errors: list[str] | dict[str, list[str]]):
        self.errors = errors
        super().__init__(str(errors))


def _instant(value) -> datetime | None:
    """An ISO 8601 time as a UTC instant, or None. A time without an offset is UTC, as
    senders mean it; an offset PostgreSQL refuses (beyond ±15:59) is only another way to
    write an instant."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = parse_datetime(value)
        if parsed is None:
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _time(value) -> datetime | None:
    """When the sender says an alert started or ended; None when it says nothing it can have
    meant: Go's zero time (Alertmanager's "no end"), or a clock that was reset (1970)."""
    instant = _instant(value)
    return instant if instant is not None and instant >= EARLIEST_TIME else None


def _str_dict(value, name: str, errors: dict) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.setdefault(name, []).append("must be an object")
        return {}
    return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}


def alertmanager_events(integration: Integration, body) -> list[AlertEvent]:
    """Alertmanager webhook v4 (and Grafana's variant of it)."""
    errors: dict[str, list[str]] = {}
    if not isinstance(body, dict):
        raise PayloadError({"non_field_errors": ["expected a JSON object"]})
    alerts = body.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        errors["alerts"] = ["required: a non-empty list"]
    group_key = body.get("groupKey")
    if integration.grouping == Integration.Grouping.GROUP_KEY and not isinstance(group_key, str):
        errors["groupKey"] = ["required: a string"]
    common_annotations = _str_dict(body.get("commonAnnotations"), "commonAnnotations", errors)
    if errors:
        raise PayloadError(errors)
    events = []
    for index, alert in enumerate(alerts):
        where = f"alerts[{index}]"
        if not isinstance(alert, dict):
            errors[where] = ["must be an object"]
            continue
        status = alert.get("status")
        if status not in ("firing", "resolved"):
            errors[f"{where}.status"] = ["must be 'firing' or 'resolved'"]
        labels = _str_dict(alert.get("labels"), f"{where}.labels", errors)
        annotations = _str_dict(alert.get("annotations"), f"{where}.annotations", errors)
        if not labels:
            errors.setdefault(f"{where}.labels", []).append("required: a non-empty object")
        fingerprint = alert.get("fingerprint")
        if not isinstance(fingerprint, str) or not fingerprint:
            # Older senders omit it; labels identify an alert just as well.
            fingerprint = "|".join(f"{k}={v}" for k, v in sorted(labels.items()))[:255]
        if errors:
            continue
        key = group_key if integration.grouping == Integration.Grouping.GROUP_KEY else fingerprint
        title = (
            (
                common_annotations.get("summary")
                if integration.grouping == Integration.Grouping.GROUP_KEY and len(alerts) > 1
                else None
            )
            or annotations.get("summary")
            or annotations.get("title")
            or labels.get("alertname", "")
        )
        links = [
            url
            for url in (alert.get("generatorURL"), alert.get("dashboardURL"), alert.get("panelURL"))
            if isinstance(url, str) and url
        ]
        events.append(
            AlertEvent(
                key=str(key)[:255],
                fingerprint=fingerprint[:255],
                firing=status == "firing",
                title=title or labels.get("alertname", "alert"),
                severity=integration.severity_for(labels),
                summary=annotations.get("description", ""),
                source=labels.get("instance", "") or body.get("externalURL", "") or "",
                service=labels.get("service", "") or labels.get("job", ""),
                labels=labels,
                annotations=annotations,
                links=links,
                starts_at=_time(alert.get("startsAt")),
                ends_at=_time(alert.get("endsAt")),
                raw=alert,
            )
        )
    if errors:
        raise PayloadError(errors)
    return events


def _pagerduty_routing_errors(body) -> list[str]:
    """Both PagerDuty APIs: an object, with a routing key of 32 characters."""
    if not isinstance(body, dict):
        raise PayloadError(["Event object must be a JSON object"])
    routing_key = body.get("routing_key")
    if not isinstance(routing_key, str) or not routing_key:
        return ["'routing_key' is missing or blank"]
    if len(routing_key) != 32:
        return ["'routing_key' must be 32 characters"]
    return []


def pagerduty_event(body) -> dict:
    """Validate a PagerDuty Events API v2 body by PagerDuty's own rules; return it cleaned."""
    errors = _pagerduty_routing_errors(body)
    action = body.get("event_action")
    # A list or an object here cannot even be looked up in the set of actions.
    if not isinstance(action, str) or action not in PAGERDUTY_ACTIONS:
        errors.append("'event_action' is invalid (must be one of trigger, acknowledge, resolve)")
    dedup_key = body.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or len(dedup_key) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup_key:
        errors.append("'dedup_key' is required for acknowledge and resolve events")
    payload = body.get("payload")
    if action == "trigger":
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or not an object")
        else:
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary.strip():
                errors.append("'payload.summary' is missing or blank")
            elif len(summary) > 1024:
                errors.append("'payload.summary' must be at most 1024 characters")
            source = payload.get("source")
            if not isinstance(source, str) or not source.strip():
                errors.append("'payload.source' is missing or blank")
            severity = payload.get("severity")
            if not isinstance(severity, str) or not severity:
                errors.append("'payload.severity' is missing or blank")
            elif severity not in PAGERDUTY_SEVERITIES:
                errors.append(
                    "'payload.severity' is invalid (must be one of critical, error, warning, info)"
                )
            timestamp = payload.get("timestamp")
            if timestamp is not None and _instant(timestamp) is None:
                errors.append("'payload.timestamp' must be an ISO 8601 timestamp")
            details = payload.get("custom_details")
            if details is not None and not isinstance(details, dict | str):
                errors.append("'payload.custom_details' must be an object")
    for name in ("links", "images"):
        if body.get(name) is not None and not isinstance(body[name], list):
            errors.append(f"'{name}' must be an array")
    if errors:
        raise PayloadError(errors)
    if action == "trigger" and not dedup_key:
        body = {**body, "dedup_key": uuid.uuid4().hex}
    return body


def generic_alert_event(alert: dict, *, raw) -> AlertEvent:
    """`POST /api/v1/alerts/`, already validated by its serializer."""
    key = alert.get("dedup_key") or uuid.uuid4().hex
    return AlertEvent(
        key=key,
        fingerprint=key,
        firing=alert["status"] == "firing",
        title=alert["title"],
        severity=alert["severity"],
        source=alert.get("source", ""),
        service=alert.get("service", ""),
        annotations={str(k): str(v) for k, v in alert.get("details", {}).items()},
        raw=raw,
    )


def pagerduty_alert_event(integration: Integration, body: dict) -> AlertEvent:
    payload = body["payload"]
    labels = {
        name: str(payload[name])
        for name in ("severity", "component", "group", "class")
        if payload.get(name) not in (None, "")
    }
    details = payload.get("custom_details")
    links = [
        link.get("href")
        for link in body.get("links") or []
        if isinstance(link, dict) and isinstance(link.get("href"), str)
    ]
    severity = integration.severity_mapping.get(payload["severity"], integration.default_severity)
    return AlertEvent(
        key=body["dedup_key"],
        fingerprint=body["dedup_key"],
        firing=True,
        title=payload["summary"],
        severity=severity,
        summary=details if isinstance(details, str) else "",
        source=payload["source"],
        service=str(payload.get("component") or "")[:100],
        labels=labels,
        annotations=details if isinstance(details, dict) else {},
        links=links,
        starts_at=_time(payload.get("timestamp")),
        raw=body,
    )


def pagerduty_change_event(body) -> dict:
    """Validate a PagerDuty Change Events body (`POST /v2/change/enqueue`) by PagerDuty's
    rules: a routing key, a payload with a summary; timestamp, source, custom_details and
    links optional. Returns it with `links` kept to the well-formed ones."""
    errors = _pagerduty_routing_errors(body)
    payload = body.get("payload")
    if not isinstance(payload, dict):
        errors.append("'payload' is missing or not an object")
    else:
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors.append("'payload.summary' is missing or blank")
        elif len(summary) > 1024:
            errors.append("'payload.summary' must be at most 1024 characters")
        source = payload.get("source")
        if source is not None and not isinstance(source, str):
            errors.append("'payload.source' must be a string")
        timestamp = payload.get("timestamp")
        if timestamp is not None and _time(timestamp) is None:
            errors.append("'payload.timestamp' must be an ISO 8601 timestamp")
        details = payload.get("custom_details")
        if details is not None and not isinstance(details, dict | str):
            errors.append("'payload.custom_details' must be an object")
    if body.get("links") is not None and not isinstance(body["links"], list):
        errors.append("'links' must be an array")
    if errors:
        raise PayloadError(errors)
    links = [
        {
            "href": link["href"],
            "text": link.get("text") if isinstance(link.get("text"), str) else "",
        }
        for link in body.get("links") or []
        if isinstance(link, dict) and isinstance(link.get("href"), str) and link["href"].strip()
    ]
    return {**body, "links": links}


def _detail(details: dict, *names: str) -> str:
    for name in names:
        value = details.get(name)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value):
            return str(value)
    return ""


def pagerduty_change(integration: Integration, body: dict, *, received_at: datetime) -> dict:
    """A validated change event as `changes.services.change_record` arguments.

    A change event says that something was deployed, nothing more: it is a finished release
    that succeeded, at `payload.timestamp` (else when it arrived), to the service the routing
    key stands for (the integration's name). `custom_details` may say otherwise with `kind`,
    `result`, `service`, `version` (or `commit`, `revision`, `sha`) and `who` (or `author`,
    `user`); other details are kept as they are.
    """
    payload = body["payload"]
    raw = payload.get("custom_details")
    details = raw if isinstance(raw, dict) else {}
    kind = _detail(details, "kind")
    result = _detail(details, "result")
    return {
        "kind": kind if kind in CHANGE_KINDS else "release",
        "result": result if result in CHANGE_RESULTS else "succeeded",
        "title": payload["summary"].strip(),
        "summary": raw if isinstance(raw, str) else "",
        "service": (_detail(details, "service") or integration.name)[:100],
        "version": _detail(details, "version", "commit", "revision", "sha")[:200],
        "who": _detail(details, "who", "author", "user")[:150],
        "source": (payload.get("source") or "")[:255],
        "details": {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in details.items()},
        "links": [
            {"href": link["href"][:2000], "text": link["text"][:500]} for link in body["links"]
        ],
        "started_at": _time(payload.get("timestamp")) or received_at,
    }
