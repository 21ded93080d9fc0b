"""An alert becoming an incident: deduplicated by its key into one active incident, recorded
as that incident's detection evidence, and resolving it when every alert has resolved.

The adapters (`integrations`: Alertmanager, Grafana, PagerDuty, the plain endpoint) translate
their wire formats into `AlertEvent`s and call these; this module calls the incident services.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.base import timeline_record
from incidents.models import Action, Incident, State, TimelineEvent
from incidents.services import incident_declare, incident_transition

from .events import AlertEvent
from .models import Alert, AlertKey


def _open_alert_key(*, integration, event: AlertEvent, actor) -> tuple[AlertKey, bool]:
    """The active incident for this key, or a new one; a unique constraint settles races."""
    found = (
        AlertKey.objects.select_for_update()
        .select_related("incident")
        .filter(integration=integration, key=event.key)
        .first()
    )
    if found:
        return found, False
    now = event.received_at or timezone.now()
    try:
        with transaction.atomic():
            incident = incident_declare(
                actor=actor,
                title=event.title[:200] or event.key[:200],
                severity=event.severity,
                summary=event.summary,
                service=event.service[:100],
                detected_at=min(event.starts_at or now, now),
                policy_name=integration.policy,
            )
            return AlertKey.objects.create(
                integration=integration, key=event.key, incident=incident
            ), True
    except IntegrityError:
        # Another request opened it a moment ago; its incident is ours.
        return (
            AlertKey.objects.select_for_update()
            .select_related("incident")
            .get(integration=integration, key=event.key),
            False,
        )


# No savepoint (a statement pair fewer per alert): a failed alert fails its caller's whole
# transaction anyway, a request's or the alert processor's batch.
@transaction.atomic(savepoint=False)
def alert_receive(*, integration, event: AlertEvent, actor: AbstractBaseUser) -> Alert | None:
    """Record an alert: open an incident, or attach to the open one with the same key.

    Returns None for a resolution of an alert we hold no open incident for.
    """
    now = event.received_at or timezone.now()
    if not event.firing:
        return _alert_resolved(integration=integration, event=event, actor=actor, now=now)
    alert_key, opened = _open_alert_key(integration=integration, event=event, actor=actor)
    incident = alert_key.incident
    alert = Alert.objects.filter(
        incident=incident, integration=integration, fingerprint=event.fingerprint
    ).first()
    if alert is not None:
        alert.incident = incident  # already loaded with the key: no second query
    else:
        alert = Alert(
            incident=incident,
            integration=integration,
            fingerprint=event.fingerprint,
            first_received_at=now,
            times_received=0,
        )
    newly_firing = alert.pk is None or alert.status == Alert.Status.RESOLVED
    _fill_alert(alert, event, now, Alert.Status.FIRING)
    alert.save()
    if newly_firing and not opened:
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.ALERT,
            actor=actor,
            message=event.title[:500],
            data={"fingerprint": event.fingerprint, "integration": integration.name},
            at=now,
        )
    return alert


def _fill_alert(alert: Alert, event: AlertEvent, now: datetime, status: str) -> None:
    alert.status = status
    alert.summary = (event.summary or event.title)[:1024]
    alert.source = event.source[:255]
    alert.severity = event.severity
    alert.labels = event.labels
    alert.annotations = event.annotations
    alert.links = event.links
    alert.starts_at = event.starts_at or alert.starts_at
    alert.ends_at = event.ends_at if status == Alert.Status.RESOLVED else None
    alert.raw = event.raw
    alert.last_received_at = now
    alert.times_received += 1


def _alert_resolved(*, integration, event: AlertEvent, actor, now: datetime) -> Alert | None:
    alert_key = (
        AlertKey.objects.select_for_update()
        .select_related("incident")
        .filter(integration=integration, key=event.key)
        .first()
    )
    if alert_key is None:
        return None
    incident = alert_key.incident
    alert = (
        Alert.objects.select_for_update()
        .filter(incident=incident, integration=integration, fingerprint=event.fingerprint)
        .first()
    )
    if alert is None or alert.status == Alert.Status.RESOLVED:
        return alert
    _fill_alert(alert, event, now, Alert.Status.RESOLVED)
    alert.ends_at = alert.ends_at or now
    alert.save()
    if not incident.alerts.filter(status=Alert.Status.FIRING).exists():
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.ALERTS_RESOLVED,
            actor=actor,
            message=_("Every alert of this incident has resolved."),
            at=now,
        )
        if integration.auto_resolve and incident.is_active:
            incident_transition(
                incident=incident,
                action=Action.RESOLVE,
                actor=actor,
                note=_("Resolved automatically: all alerts resolved."),
            )
    return alert


def alert_key_act(
    *, integration, key: str, action: str, actor: AbstractBaseUser
) -> Incident | None:
    """A monitoring system's acknowledge/resolve for the incident open under `key`."""
    alert_key = AlertKey.objects.filter(integration=integration, key=key).first()
    if alert_key is None:
        return None
    incident = alert_key.incident
    if action == Action.ACKNOWLEDGE and incident.state != State.DETECTED:
        return incident
    if action == Action.RESOLVE and not incident.is_active:
        return incident
    return incident_transition(incident=incident, action=action, actor=actor)


@transaction.atomic(savepoint=False)  # as alert_receive: all or nothing with the caller
def alerts_ingest(
    *, integration, events: list[AlertEvent], actor: AbstractBaseUser | None = None
) -> list:
    """All alerts of one request, all or nothing; returns the incidents they belong to.

    They act as `actor` (a person posting to the plain endpoint), else as the integration's
    own service account."""
    actor = actor or integration.user
    incidents = []
    for event in events:
        alert = alert_receive(integration=integration, event=event, actor=actor)
        if alert is not None and alert.incident not in incidents:
            incidents.append(alert.incident)
    return incidents
