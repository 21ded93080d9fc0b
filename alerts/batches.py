"""The alert processor's batch: the firing alerts of up to a hundred requests applied together,
and the new incidents among them opened set-based.

Alerts whose key has an open incident attach to it as `alert_receive` attaches them (their keys
read in one query for the batch); alerts a maintenance window covers are held as there. The
others open new incidents: they wait in the batch, each key's later alerts joining its opening
in order, until `flush` declares them all with `incidents_declare_batch` and writes their alerts
and keys, one statement per table. The rows are those the one-at-a-time path writes.

Whatever else acts on a key (a resolve, a PagerDuty acknowledge) goes through the one-at-a-time
services after a `flush`, so it finds what came before it.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from functools import reduce
from operator import or_

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone

from config.base import recorded_actor
from config.bulk import bulk_insert
from incidents.models import Incident, TimelineEvent
from incidents.services import Declaration, incidents_declare_batch
from maintenance.selectors import window_holding

from .events import AlertEvent
from .models import Alert, AlertKey
from .services import (
    WindowsInForce,
    _alert_hold,
    _alert_key,
    _fill_alert,
    alert_key_opening,
    alert_receive,
)


@dataclass
class _Opening:
    """A new incident the batch opens: declared from its first alert, joined by the others."""

    integration: object
    actor: AbstractBaseUser
    event: AlertEvent
    keys: list[tuple[object, str]] = field(default_factory=list)
    alerts: dict[tuple[int, str], Alert] = field(default_factory=dict)
    then: list[TimelineEvent] = field(default_factory=list)

    def attach(self, integration, event: AlertEvent, actor: AbstractBaseUser) -> None:
        """As `alert_receive` records an alert on the incident it has just opened."""
        now = event.received_at or timezone.now()
        alert = self.alerts.get((integration.pk, event.fingerprint))
        if alert is None:
            if self.alerts:  # newly firing, and not the alert that opened the incident
                self.then.append(
                    TimelineEvent(
                        kind=TimelineEvent.Kind.ALERT,
                        actor=recorded_actor(actor),
                        message=event.title[:500],
                        data={"fingerprint": event.fingerprint, "integration": integration.name},
                        at=now,
                    )
                )
            alert = Alert(
                integration=integration,
                fingerprint=event.fingerprint,
                first_received_at=now,
                times_received=0,
            )
            self.alerts[(integration.pk, event.fingerprint)] = alert
        _fill_alert(alert, event, now, Alert.Status.FIRING)

    def declaration(self) -> Declaration:
        """As `_open_alert_key` declares the incident of a key's first alert."""
        event = self.event
        now = event.received_at or timezone.now()
        return Declaration(
            actor=self.actor,
            title=event.title[:200] or event.key[:200],
            severity=event.severity,
            summary=event.summary,
            service=event.service[:100],
            detected_at=min(event.starts_at or now, now),
            policy_name=self.integration.policy,
            then=tuple(self.then),
        )


class AlertBatch:
    """Firing alerts applied together inside the caller's transaction; `flush` before anything
    else acts on their keys, and at the end."""

    def __init__(self) -> None:
        self.windows = WindowsInForce()
        self._keys: dict[tuple[int, str], AlertKey | None] = {}
        self._openings: dict[Hashable, _Opening] = {}
        self._opening_of: dict[tuple[int, str], _Opening] = {}

    def keys_read(self, wanted: Iterable[tuple[object, str]]) -> None:
        """The open keys among `wanted` ((integration, key) pairs) in one query, locked as one
        alert's would be; what was read before is forgotten (another service may have changed
        it since)."""
        self._keys.clear()
        by_integration: dict[int, set[str]] = {}
        for integration, key in wanted:
            if (integration.pk, key) not in self._opening_of:
                by_integration.setdefault(integration.pk, set()).add(key)
        if not by_integration:
            return
        condition = reduce(
            or_, (Q(integration_id=pk, key__in=sorted(keys)) for pk, keys in by_integration.items())
        )
        found = {
            (alert_key.integration_id, alert_key.key): alert_key
            for alert_key in AlertKey.objects.select_for_update()
            .select_related("incident")
            .filter(condition)
            .order_by("pk")
        }
        for pk, keys in by_integration.items():
            for key in keys:
                self._keys[(pk, key)] = found.get((pk, key))

    def ingest(
        self, *, integration, events: list[AlertEvent], actor: AbstractBaseUser | None = None
    ) -> None:
        """The firing alerts of one request, in order, as `alerts_ingest` applies them."""
        actor = actor or integration.user
        for event in events:
            self._receive(integration, event, actor)

    def _receive(self, integration, event: AlertEvent, actor: AbstractBaseUser) -> None:
        slot = (integration.pk, event.key)
        if (opening := self._opening_of.get(slot)) is not None:
            opening.attach(integration, event, actor)
            return
        if slot not in self._keys:  # not read ahead
            self._keys[slot] = _alert_key(integration=integration, key=event.key)
        if (alert_key := self._keys[slot]) is not None:
            alert_receive(
                integration=integration,
                event=event,
                actor=actor,
                windows=self.windows,
                alert_key=alert_key,
            )
            return
        window = window_holding(
            self.windows(), service=event.service, labels=event.labels, severity=event.severity
        )
        if window is not None:
            now = event.received_at or timezone.now()
            _alert_hold(window=window, integration=integration, event=event, now=now)
            return
        target = alert_key_opening(integration=integration, event=event)
        if isinstance(target, Incident):
            # Joins an incident open already. A race on the key fails the batch, which is then
            # applied one delivery at a time, where the constraint settles it.
            alert_key = AlertKey.objects.create(
                integration=integration, key=event.key, incident=target
            )
            self._keys[slot] = alert_key
            alert_receive(
                integration=integration,
                event=event,
                actor=actor,
                windows=self.windows,
                alert_key=alert_key,
            )
            return
        if (opening := self._openings.get(target)) is None:
            opening = self._openings[target] = _Opening(integration, actor, event)
        opening.keys.append((integration, event.key))
        self._opening_of[slot] = opening
        opening.attach(integration, event, actor)

    def flush(self) -> list[Incident]:
        """Open the waiting incidents, with their alerts and keys: one statement per table."""
        openings = list(self._openings.values())
        if not openings:
            return []
        incidents = incidents_declare_batch(declarations=[o.declaration() for o in openings])
        alerts, keys = [], []
        for opening, incident in zip(openings, incidents, strict=True):
            for alert in opening.alerts.values():
                alert.incident = incident
                alerts.append(alert)
            keys += [AlertKey(integration=i, key=key, incident=incident) for i, key in opening.keys]
        # A key another processor or request opened meanwhile breaks the unique constraint: the
        # batch fails, and is applied again one delivery at a time, where the constraint
        # settles which incident is the key's.
        bulk_insert(keys)
        bulk_insert(alerts)
        for alert_key in keys:
            self._keys[(alert_key.integration_id, alert_key.key)] = alert_key
        self._openings.clear()
        self._opening_of.clear()
        return incidents
