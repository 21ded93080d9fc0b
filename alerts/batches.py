"""The alert processor's batch: the firing alerts of up to a hundred requests applied together,
and the new incidents among them opened set-based.

Alerts whose key has an open incident attach to it as `alert_receive` attaches them, their keys
and alerts read in one query each for the batch; alerts a maintenance window covers are held as
there. The others open new incidents: they wait in the batch, each key's later alerts joining
its opening in order. `flush` then declares the new incidents together
(`incidents_declare_batch`) and writes every alert, key and timeline event of the batch, one
statement per table. The rows are those the one-at-a-time path writes (a test compares them).
Which new incident a new key opens is `alert_key_opening`'s answer: its key's, or for an
integration that groups alerts, its group's, unless the group opened an incident before this
batch, which the key then joins (its group read once for the batch, its window slid at the
end).

Whatever else acts on a key (a resolve, a PagerDuty acknowledge) goes through the one-at-a-time
services after a `flush`, so it finds what came before it.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce
from operator import or_

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone

from config.base import recorded_actor
from config.bulk import bulk_insert, bulk_save
from incidents.models import Incident, TimelineEvent
from incidents.services import Declaration, incidents_declare_batch
from maintenance.selectors import window_holding

from .events import AlertEvent
from .models import Alert, AlertGroup, AlertKey
from .services import (
    WindowsInForce,
    _alert_hold,
    _alert_key,
    _fill_alert,
    alert_group_open,
    alert_key_opening,
    alert_new,
)


def _alert_event(integration, event: AlertEvent, actor, now) -> TimelineEvent:
    """As `alert_receive` records a newly firing alert on its incident's timeline."""
    return TimelineEvent(
        kind=TimelineEvent.Kind.ALERT,
        actor=recorded_actor(actor),
        message=event.title[:500],
        data={"fingerprint": event.fingerprint, "integration": integration.name},
        at=now,
    )


@dataclass
class _Opening:
    """A new incident the batch opens: declared from its first alert, joined by the others."""

    integration: object
    actor: AbstractBaseUser
    event: AlertEvent
    group: dict[str, str] | None = None  # the group-by labels' values of the group it opens
    keys: list[tuple[object, str]] = field(default_factory=list)
    alerts: dict[tuple[int, str], Alert] = field(default_factory=dict)
    then: list[TimelineEvent] = field(default_factory=list)
    last_at: datetime | None = None  # its latest alert's arrival, where its group's window is

    def attach(self, integration, event: AlertEvent, actor: AbstractBaseUser) -> None:
        """As `alert_receive` records an alert on the incident it has just opened."""
        now = event.received_at or timezone.now()
        self.last_at = max(self.last_at or now, now)
        alert = self.alerts.get((integration.pk, event.fingerprint))
        if alert is None:
            if self.alerts:  # newly firing, and not the alert that opened the incident
                self.then.append(_alert_event(integration, event, actor, now))
            alert = alert_new(integration=integration, event=event, now=now)
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
        # Alerts of open incidents by (incident, integration, fingerprint); None: none yet.
        self._alerts: dict[tuple[int, int, str], Alert | None] = {}
        self._changed: dict[int, Alert] = {}  # rows read, to save
        self._added: list[Alert] = []  # alerts new to an open incident
        self._events: list[TimelineEvent] = []  # and their timeline events
        self._openings: dict[Hashable, _Opening] = {}
        self._opening_of: dict[tuple[int, str], _Opening] = {}
        # Groups read (locked) by their opening's name; None: no group takes alerts.
        self._groups: dict[Hashable, AlertGroup | None] = {}
        self._joined: list[AlertKey] = []  # new keys joining a group's incident
        self._slid: dict[int, AlertGroup] = {}  # groups whose window moved, to save
        self._ended: list[AlertGroup] = []  # groups past their window, to delete

    def read_ahead(self, wanted: Iterable[tuple[object, AlertEvent]]) -> None:
        """The open keys of the (integration, firing alert) pairs to come, locked as one
        alert's would be, and those keys' alerts: one query each. Called with nothing waiting
        to be written; what was read before is forgotten (another service may have changed it
        since)."""
        if self._openings or self._changed or self._added or self._joined:
            raise RuntimeError("the batch reads ahead only after a flush")
        self._keys.clear()
        self._alerts.clear()
        self._groups.clear()
        wanted_keys: dict[int, dict[str, set[str]]] = {}
        for integration, event in wanted:
            fingerprints = wanted_keys.setdefault(integration.pk, {}).setdefault(event.key, set())
            fingerprints.add(event.fingerprint)
        if not wanted_keys:
            return
        condition = reduce(
            or_, (Q(integration_id=pk, key__in=sorted(keys)) for pk, keys in wanted_keys.items())
        )
        found = {
            (alert_key.integration_id, alert_key.key): alert_key
            for alert_key in AlertKey.objects.select_for_update()
            .select_related("incident")
            .filter(condition)
            .order_by("pk")
        }
        for pk, keys in wanted_keys.items():
            for key in keys:
                self._keys[(pk, key)] = found.get((pk, key))
        wanted_alerts = {}
        for (pk, key), alert_key in found.items():
            for fingerprint in wanted_keys[pk][key]:
                wanted_alerts[(alert_key.incident_id, pk, fingerprint)] = None
        if not wanted_alerts:
            return
        self._alerts.update(wanted_alerts)
        # Two lists rather than a condition per alert: a hundred ORed terms cost more to
        # build than the rows they find; what else they match is left out here.
        for alert in Alert.objects.filter(
            incident_id__in={incident for incident, _pk, _f in wanted_alerts},
            fingerprint__in={fingerprint for _i, _pk, fingerprint in wanted_alerts},
        ):
            found_alert = (alert.incident_id, alert.integration_id, alert.fingerprint)
            if found_alert in wanted_alerts:
                self._alerts[found_alert] = alert

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
            self._attach(alert_key, integration, event, actor)
            return
        window = window_holding(
            self.windows(), service=event.service, labels=event.labels, severity=event.severity
        )
        if window is not None:
            now = event.received_at or timezone.now()
            _alert_hold(window=window, integration=integration, event=event, now=now)
            return
        target = alert_key_opening(integration=integration, event=event)
        if target not in self._openings and (group := self._group(integration, event, target)):
            # Joins the incident its group opened before this batch. Should its key or alert
            # be there already after all (a race), the batch fails and is applied one delivery
            # at a time, where the constraints settle it.
            alert_key = AlertKey(integration=integration, key=event.key, incident=group.incident)
            self._joined.append(alert_key)
            self._keys[slot] = alert_key
            self._alerts.setdefault((group.incident_id, integration.pk, event.fingerprint), None)
            self._attach(alert_key, integration, event, actor)
            return
        if (opening := self._openings.get(target)) is None:
            group_labels = integration.group_labels(event.labels)
            opening = self._openings[target] = _Opening(integration, actor, event, group_labels)
        opening.keys.append((integration, event.key))
        self._opening_of[slot] = opening
        opening.attach(integration, event, actor)

    def _group(self, integration, event: AlertEvent, target: Hashable) -> AlertGroup | None:
        """The group that takes this alert, its window slid to it: read once for the batch."""
        labels = integration.group_labels(event.labels)
        if labels is None:
            return None
        now = event.received_at or timezone.now()
        if target not in self._groups:
            self._groups[target] = alert_group_open(integration=integration, labels=labels, now=now)
        group = self._groups[target]
        if group is None:
            return None
        if now - group.last_alert_at > integration.group_window:
            self._ended.append(group)  # as `alert_group_open` ends it: a new incident opens
            self._groups[target] = None
            return None
        if now > group.last_alert_at:
            group.last_alert_at = now
            self._slid[group.pk] = group
        return group

    def _attach(self, alert_key: AlertKey, integration, event: AlertEvent, actor) -> None:
        """As `alert_receive` attaches a firing alert to the incident open under its key."""
        now = event.received_at or timezone.now()
        incident = alert_key.incident
        found = (incident.pk, integration.pk, event.fingerprint)
        if found not in self._alerts:  # not read ahead
            self._alerts[found] = Alert.objects.filter(
                incident=incident, integration=integration, fingerprint=event.fingerprint
            ).first()
        alert = self._alerts[found]
        newly_firing = alert is None or alert.status == Alert.Status.RESOLVED
        if alert is None:
            alert = alert_new(integration=integration, event=event, now=now, incident=incident)
            self._alerts[found] = alert
            self._added.append(alert)
        elif alert.pk is not None:
            self._changed[alert.pk] = alert
        _fill_alert(alert, event, now, Alert.Status.FIRING)
        if newly_firing:
            event_recorded = _alert_event(integration, event, actor, now)
            event_recorded.incident = incident
            self._events.append(event_recorded)

    def flush(self) -> list[Incident]:
        """Open the waiting incidents and write every alert, key and timeline event of the
        batch: one statement per table."""
        openings = list(self._openings.values())
        incidents = incidents_declare_batch(
            declarations=[o.declaration() for o in openings], timeline=self._events
        )
        alerts, keys, groups = [], [], []
        for opening, incident in zip(openings, incidents, strict=True):
            for alert in opening.alerts.values():
                alert.incident = incident
                alerts.append(alert)
            keys += [AlertKey(integration=i, key=key, incident=incident) for i, key in opening.keys]
            if opening.group is not None:
                groups.append(
                    AlertGroup(
                        integration=opening.integration,
                        key=AlertGroup.key_of(opening.group),
                        labels=opening.group,
                        incident=incident,
                        last_alert_at=opening.last_at,
                    )
                )
        keys += self._joined
        if self._ended:
            AlertGroup.objects.filter(pk__in=[group.pk for group in self._ended]).delete()
        bulk_insert(groups)  # a group another processor opened meanwhile fails the batch too
        bulk_save(list(self._slid.values()))
        # A key another processor or request opened meanwhile breaks the unique constraint: the
        # batch fails, and is applied again one delivery at a time, where the constraint
        # settles which incident is the key's.
        bulk_insert(keys)
        bulk_insert(self._added + alerts)
        bulk_save(list(self._changed.values()))
        for alert_key in keys:
            self._keys[(alert_key.integration_id, alert_key.key)] = alert_key
        for alert in alerts:
            self._alerts[(alert.incident_id, alert.integration_id, alert.fingerprint)] = alert
        grouped = [opening for opening in openings if opening.group is not None]
        for opening, group in zip(grouped, groups, strict=True):
            target = alert_key_opening(integration=opening.integration, event=opening.event)
            self._groups[target] = group
        self._joined.clear()
        self._slid.clear()
        self._ended.clear()
        self._openings.clear()
        self._opening_of.clear()
        self._changed.clear()
        self._added.clear()
        self._events.clear()
        return incidents
