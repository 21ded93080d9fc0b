"""An alert becoming an incident: deduplicated by its key into one active incident, recorded
as that incident's detection evidence, and resolving it when every alert has resolved.

An alert about to open an incident while a maintenance window covers it is held on the
window's list instead (no incident, no notice); when the window ends, the held alerts still
firing open their incidents (`held_alerts_release`, beat's sweep).

The adapters (`integrations`: Alertmanager, Grafana, PagerDuty, the plain endpoint) translate
their wire formats into `AlertEvent`s and call these; this module calls the incident services.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.base import JST, database_now, timeline_record
from config.memo import memoized
from incidents.models import Action, Incident, State, TimelineEvent
from incidents.services import incident_declare, incident_transition
from maintenance.models import HeldAlert, MaintenanceWindow
from maintenance.selectors import window_holding, windows_in_force

from .events import AlertEvent
from .models import Alert, AlertGroup, AlertKey


class WindowsInForce:
    """The maintenance windows in force, read at most once for a batch of alerts (a whole
    pass of the processor shares them), and only if an alert is about to open an incident."""

    def __init__(self) -> None:
        self._windows: list[MaintenanceWindow] | None = None

    def __call__(self) -> list[MaintenanceWindow]:
        if self._windows is None:
            self._windows = memoized(("maintenance windows",), lambda: list(windows_in_force()))
        return self._windows


def _alert_key(*, integration, key: str) -> AlertKey | None:
    return (
        AlertKey.objects.select_for_update()
        .select_related("incident")
        .filter(integration=integration, key=key)
        .first()
    )


def _open_alert_key(
    *, integration, event: AlertEvent, actor, detected_at: datetime | None = None
) -> tuple[AlertKey, bool]:
    """A new incident for this key, or the active incident of its alert group; a unique
    constraint on each settles races. Returns the key and whether it opened an incident."""
    now = event.received_at or timezone.now()
    labels = integration.group_labels(event.labels)
    for _attempt in range(3):
        try:
            with transaction.atomic():
                incident = None if labels is None else _group_join(integration, labels, now)
                if incident is None:
                    incident = incident_declare(
                        actor=actor,
                        title=event.title[:200] or event.key[:200],
                        severity=event.severity,
                        summary=event.summary,
                        service=event.service[:100],
                        detected_at=detected_at or min(event.starts_at or now, now),
                        policy_name=integration.policy,
                    )
                    if labels is not None:
                        _group_open(integration, labels, incident, now)
                    opened = True
                else:
                    opened = False
                key = AlertKey.objects.create(
                    integration=integration, key=event.key, incident=incident
                )
                return key, opened
        except IntegrityError:
            # Another request opened it a moment ago: this key's incident is ours; or it
            # opened this alert's group, which the next attempt joins.
            alert_key = _alert_key(integration=integration, key=event.key)
            if alert_key is not None:
                return alert_key, False
    raise IntegrityError(f"alert group of {event.key!r} kept changing under this alert")


def _group_join(integration, labels: dict[str, str], now: datetime) -> Incident | None:
    """The incident this alert's group opened, if it is active and the group's latest alert
    came within the window; a group past either makes way for the incident about to open."""
    group = alert_group_open(integration=integration, labels=labels, now=now)
    if group is None:
        return None
    if now > group.last_alert_at:
        group.last_alert_at = now
        group.save(update_fields=["last_alert_at"])
    return group.incident


def alert_group_open(*, integration, labels: dict[str, str], now: datetime) -> AlertGroup | None:
    """The group of these label values still taking alerts at `now` (locked), if any; one past
    its window or its incident is deleted, to make way for the incident about to open."""
    group = (
        AlertGroup.objects.select_for_update()
        .select_related("incident")
        .filter(integration=integration, key=AlertGroup.key_of(labels))
        .first()
    )
    if group is None:
        return None
    if group.incident.is_active and now - group.last_alert_at <= integration.group_window:
        return group
    group.delete()
    return None


def _group_open(integration, labels: dict[str, str], incident: Incident, now: datetime) -> None:
    AlertGroup.objects.create(
        integration=integration,
        key=AlertGroup.key_of(labels),
        labels=labels,
        incident=incident,
        last_alert_at=now,
    )


def alert_key_opening(*, integration, event: AlertEvent) -> Hashable:
    """What the first alert of a key with no open incident opens, for the processor's batch
    (`alerts.batches`): the name of a new incident, which the batch's alerts named alike share
    (opened together with the batch's others): its key's, or, for an integration that groups
    alerts, its group's."""
    labels = integration.group_labels(event.labels)
    if labels is None:
        return ("key", integration.pk, event.key)
    return ("group", integration.pk, AlertGroup.key_of(labels))


def _alert_hold(*, window: MaintenanceWindow, integration, event: AlertEvent, now) -> HeldAlert:
    """Put the alert on the window's list (again: counted), firing; it opens nothing."""
    mine = {"window": window, "integration": integration, "fingerprint": event.fingerprint}
    held = HeldAlert.objects.select_for_update().filter(**mine).first()
    if held is None:
        try:
            with transaction.atomic():  # a savepoint only for the first of a fingerprint
                return _held_fill(HeldAlert(**mine, first_received_at=now), event, now, first=True)
        except IntegrityError:
            # The same alert held by another request a moment ago: count this one on it.
            held = HeldAlert.objects.select_for_update().get(**mine)
    return _held_fill(held, event, now)


def _held_fill(held: HeldAlert, event: AlertEvent, now, *, first: bool = False) -> HeldAlert:
    held.key = event.key
    held.status = HeldAlert.Status.FIRING
    held.title = event.title[:200]
    held.summary = event.summary
    held.source = event.source[:255]
    held.service = event.service[:100]
    held.severity = event.severity
    held.labels, held.annotations, held.links = event.labels, event.annotations, event.links
    held.starts_at = event.starts_at or held.starts_at
    held.raw = event.raw
    held.last_received_at = now
    held.times_received = 1 if first else held.times_received + 1
    held.save()
    return held


# No savepoint (a statement pair fewer per alert): a failed alert fails its caller's whole
# transaction anyway, a request's or the alert processor's batch.
@transaction.atomic(savepoint=False)
def alert_receive(
    *,
    integration,
    event: AlertEvent,
    actor: AbstractBaseUser,
    windows: WindowsInForce | None = None,
    detected_at: datetime | None = None,
    alert_key: AlertKey | None = None,
) -> Alert | None:
    """Record an alert: open an incident, or attach to the open one with the same key; or,
    about to open one while a maintenance window covers it, hold it on the window's list.

    Returns None for an alert held, and for a resolution of an alert we hold no open
    incident for. `windows` shares one read of the windows among a batch's alerts;
    `alert_key`, the key's row read (and locked) with the batch's others.
    """
    now = event.received_at or timezone.now()
    if not event.firing:
        return _alert_resolved(integration=integration, event=event, actor=actor, now=now)
    alert_key, opened = alert_key or _alert_key(integration=integration, key=event.key), False
    if alert_key is None:
        # The one place an alert opens an incident: here a maintenance window may hold it.
        window = window_holding(
            (windows or WindowsInForce())(),
            service=event.service,
            labels=event.labels,
            severity=event.severity,
        )
        if window is not None:
            _alert_hold(window=window, integration=integration, event=event, now=now)
            return None
        alert_key, opened = _open_alert_key(
            integration=integration, event=event, actor=actor, detected_at=detected_at
        )
    incident = alert_key.incident
    alert = Alert.objects.filter(
        incident=incident, integration=integration, fingerprint=event.fingerprint
    ).first()
    if alert is not None:
        alert.incident = incident  # already loaded with the key: no second query
    else:
        alert = alert_new(integration=integration, event=event, now=now, incident=incident)
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


def alert_new(*, integration, event: AlertEvent, now: datetime, incident=None) -> Alert:
    """An alert seen for the first time (counted, filled in by `_fill_alert`)."""
    return Alert(
        incident=incident,
        integration=integration,
        fingerprint=event.fingerprint,
        first_received_at=now,
        times_received=0,
    )


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


def _held_resolved(*, integration, event: AlertEvent, now: datetime) -> bool:
    """A held alert resolved before its window ended: it will open nothing."""
    return bool(
        HeldAlert.objects.filter(
            integration=integration,
            fingerprint=event.fingerprint,
            released_at__isnull=True,
            status=HeldAlert.Status.FIRING,
        ).update(status=HeldAlert.Status.RESOLVED, last_received_at=now)
    )


def _alert_resolved(*, integration, event: AlertEvent, actor, now: datetime) -> Alert | None:
    alert_key = _alert_key(integration=integration, key=event.key)
    if alert_key is None:
        if _held_resolved(integration=integration, event=event, now=now):
            return None
        # Not held (any more): the release sweep may have opened its incident meanwhile.
        alert_key = _alert_key(integration=integration, key=event.key)
        if alert_key is None:
            return None
    incident = alert_key.incident
    alert = (
        Alert.objects.select_for_update()
        .filter(incident=incident, integration=integration, fingerprint=event.fingerprint)
        .first()
    )
    if alert is None:
        _held_resolved(integration=integration, event=event, now=now)
        return None
    if alert.status == Alert.Status.RESOLVED:
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
    incidents, windows = [], WindowsInForce()
    for event in events:
        alert = alert_receive(integration=integration, event=event, actor=actor, windows=windows)
        if alert is not None and alert.incident not in incidents:
            incidents.append(alert.incident)
    return incidents


def _released_event(held: HeldAlert, now: datetime) -> AlertEvent:
    return AlertEvent(
        key=held.key,
        fingerprint=held.fingerprint,
        firing=True,
        title=held.title,
        severity=held.severity,
        summary=held.summary,
        source=held.source,
        service=held.service,
        labels=held.labels,
        annotations=held.annotations,
        links=held.links,
        starts_at=held.starts_at,
        raw=held.raw,
        received_at=now,
    )


def _release_note(held: HeldAlert, incident: Incident, now: datetime) -> None:
    """Once per incident and window: why this incident opens only now."""
    window = held.window
    since = held.first_received_at.astimezone(JST)
    timeline_record(
        incident=incident,
        kind=TimelineEvent.Kind.ALERT,
        actor=held.integration.user,
        message=_(
            "Held by maintenance window #%(pk)s (%(reason)s) since %(since)s JST; it has ended "
            "and the alert still fires."
        )
        % {"pk": window.pk, "reason": window.reason[:200], "since": f"{since:%Y-%m-%d %H:%M}"},
        data={"fingerprint": held.fingerprint, "window": window.pk},
        at=now,
    )


def held_alerts_release(*, limit: int = 500) -> int:
    """Beat's sweep: the alerts held by windows that have ended (by the database's clock)
    are released, each exactly once; those still firing open their incidents as if they had
    just arrived (detected now, so escalation starts at level 1; another window in force may
    hold them again), those resolved meanwhile open nothing. Returns how many were released.

    Held alerts are claimed (SKIP LOCKED) and marked released in one transaction: two sweeps
    never release one twice, and a sweep that dies releases nothing, so the next one does.
    """
    now = database_now()
    with transaction.atomic():
        held = list(
            HeldAlert.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("window", "integration__user")
            .filter(released_at__isnull=True, window__ends_at__lte=now)
            .order_by("pk")[:limit]
        )
        windows, noted = WindowsInForce(), set()
        # Detection may not be in the future by this machine's clock (a database clock ahead).
        detected_at = min(now, timezone.now())
        for alert_held in held:
            if alert_held.status == HeldAlert.Status.FIRING:
                alert = alert_receive(
                    integration=alert_held.integration,
                    event=_released_event(alert_held, now),
                    actor=alert_held.integration.user,
                    windows=windows,
                    detected_at=detected_at,
                )
                if alert is not None:
                    alert_held.incident = alert.incident
                    if (alert.incident.pk, alert_held.window_id) not in noted:
                        noted.add((alert.incident.pk, alert_held.window_id))
                        _release_note(alert_held, alert.incident, now)
            alert_held.released_at = now
        HeldAlert.objects.bulk_update(held, ["released_at", "incident"])
    return len(held)
