"""The whole path, with `manage.py process_alerts` running as in the Procfile: webhook →
delivery → processor → held; window ends → beat's task → incident."""

from __future__ import annotations

import pytest

from alerts.tasks import held_alerts_release_task
from incidents.models import Incident
from integrations.models import AlertDelivery
from maintenance.models import HeldAlert
from tests.helpers import wait_for
from tests.integrations.conftest import alert_processor  # noqa: F401
from tests.maintenance.conftest import alert_body, window_ended


@pytest.mark.django_db(transaction=True)
def test_the_running_processor_holds_and_the_sweep_opens_after_the_window(
    window,
    post_alertmanager,
    alert_processor,  # noqa: F811
):
    opened = window()

    held = post_alertmanager(alert_body(group="Held", fingerprint="held"), process=False)
    p0 = post_alertmanager(
        alert_body(severity="critical", group="P0", fingerprint="p0"), process=False
    )
    elsewhere = post_alertmanager(
        alert_body(group="Search", fingerprint="search", job="search"), process=False
    )

    assert [r.status_code for r in (held, p0, elsewhere)] == [200, 200, 200]
    assert wait_for(lambda: not AlertDelivery.objects.exists(), timeout=60)
    assert sorted(Incident.objects.values_list("service", "severity")) == [
        ("payments", "P0"),
        ("search", "P2"),
    ]
    assert HeldAlert.objects.get().fingerprint == "held"

    window_ended(opened)
    assert held_alerts_release_task() == 1

    assert Incident.objects.count() == 3
    assert HeldAlert.objects.get().incident.alerts.get().fingerprint == "held"
