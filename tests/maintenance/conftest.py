"""Maintenance test helpers: a window opened through the service, and alerts posted to the
real Alertmanager webhook and applied by the alert processor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from config.base import SYSTEM
from maintenance.models import MaintenanceWindow
from maintenance.services import open_window
from tests.integrations.conftest import alertmanager, payload, post_alertmanager  # noqa: F401


@pytest.fixture
def window(db):
    """Open a window as a system actor: over `payments` from a minute ago for an hour."""

    def open_(**fields) -> MaintenanceWindow:
        now = timezone.now()
        fields = {
            "service": "payments",
            "starts_at": now - timedelta(minutes=1),
            "ends_at": now + timedelta(hours=1),
            "reason": "リリース v2.3",
        } | fields
        return open_window(opened_by=SYSTEM, **fields)

    return open_


def alert_body(
    *,
    severity: str = "warning",
    status: str = "firing",
    fingerprint: str = "a1b2c3d4e5f60718",
    group: str = "HighErrorRate",
    **labels,
) -> dict:
    """Alertmanager's webhook body for one alert of `payments` (a P2 by default)."""
    body = payload("alertmanager_firing" if status == "firing" else "alertmanager_resolved")
    alert = body["alerts"][0]
    alert["labels"] |= {"severity": severity, "alertname": group, **labels}
    alert["fingerprint"] = fingerprint
    body["groupKey"] = f'{{}}:{{alertname="{group}"}}'
    return body


def window_ended(window: MaintenanceWindow) -> None:
    """The window's end passes: its end moved into the past, as the database's clock (which
    no test can move) will see it."""
    MaintenanceWindow.objects.filter(pk=window.pk).update(
        starts_at=timezone.now() - timedelta(hours=2), ends_at=timezone.now() - timedelta(seconds=1)
    )
