"""What the adapters hand over: one alert as an integration saw it, already translated from
its wire format (Alertmanager, Grafana, PagerDuty, the plain endpoint)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class AlertEvent:
    """One alert as an integration saw it, already translated from its wire format."""

    key: str  # what alerts of one incident share (group key, fingerprint, dedup key)
    fingerprint: str  # this alert within the incident
    firing: bool
    title: str
    severity: str
    summary: str = ""
    source: str = ""
    service: str = ""
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    links: list = field(default_factory=list)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    raw: dict = field(default_factory=dict)
    # When Hikeshi accepted it; None: now. Applied later, an alert keeps its arrival time.
    received_at: datetime | None = None
