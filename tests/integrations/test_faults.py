"""The alert processor killed outright in the middle of a batch, or its database connections
terminated while it works: once it runs again (or is left alone), every accepted delivery is
applied exactly once."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Sum

from alerts.models import Alert
from config.base import SYSTEM
from incidents.models import Incident
from integrations.models import AlertDelivery
from integrations.services import delivery_accept, integration_create
from tests.conftest import need_service
from tests.helpers import running_database_url, session_members, terminating_connections, wait_for
from tests.integrations.conftest import payload

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
KEYS = 500
REPEATS = 4  # each key triggered this many times: applied once each, times_received == 4


def processor(tmp_path: Path, name: str, **env) -> subprocess.Popen:
    """`manage.py process_alerts` on the test database; `env` adds to or overrides its own."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "process_alerts"],
        cwd=ROOT,
        env=os.environ
        | {
            "DATABASE_URL": running_database_url(),
            "ALERT_PROCESSOR_LANES": "2",
            "CELERY_BROKER_URL": "filesystem://",
            "HIKESHI_VAR_DIR": str(tmp_path / "var"),
        }
        | env,
        stdout=(tmp_path / f"{name}.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def waiting() -> int:
    return AlertDelivery.objects.count()


def test_a_processor_killed_in_the_middle_of_a_batch_applies_each_delivery_once_after(tmp_path):
    need_service("PostgreSQL", connection.vendor == "postgresql")
    integration, _secret = integration_create(name="storm", kind="pagerduty", actor=SYSTEM)
    for repeat in range(REPEATS):
        for key in range(KEYS):
            body = payload("pagerduty_trigger") | {"dedup_key": f"host-{key}"}
            body["payload"] = body["payload"] | {"summary": f"host-{key} down ({repeat})"}
            delivery_accept(integration=integration, body=body)
    total = KEYS * REPEATS
    assert waiting() == total

    first = processor(tmp_path, "first")
    try:
        assert wait_for(lambda: waiting() <= total - 200, timeout=120, interval=0.005)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    wait_for(lambda: not session_members(first.pid), timeout=10)
    left = waiting()
    assert 0 < left < total, "the kill came after the last batch, not in the middle"

    second = processor(tmp_path, "second")
    try:
        assert wait_for(lambda: waiting() == 0, timeout=180), waiting()
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=30)

    assert Incident.objects.count() == KEYS
    assert Alert.objects.count() == KEYS
    assert Alert.objects.aggregate(n=Sum("times_received"))["n"] == total
    assert set(Alert.objects.values_list("times_received", flat=True)) == {REPEATS}


def test_connections_terminated_while_the_processor_works_apply_each_delivery_once(tmp_path):
    need_service("PostgreSQL", connection.vendor == "postgresql")
    integration, _secret = integration_create(name="cut", kind="pagerduty", actor=SYSTEM)
    keys, repeats = 200, 3
    for repeat in range(repeats):
        for key in range(keys):
            body = payload("pagerduty_trigger") | {"dedup_key": f"host-{key}"}
            body["payload"] = body["payload"] | {"summary": f"host-{key} down ({repeat})"}
            delivery_accept(integration=integration, body=body)
    total = keys * repeats

    log = tmp_path / "cut.log"
    running = None
    try:
        # Cut every fifth of a second: longer than one delivery takes, shorter than a whole
        # batch of new incidents. The cuts come first, so that the processor works under them
        # from its first batch, however fast it is.
        with terminating_connections(every=0.2) as terminated:
            assert wait_for(lambda: terminated, timeout=60)
            running = processor(tmp_path, "cut")
            assert wait_for(lambda: waiting() <= total // 2, timeout=180, interval=0.02)
        assert sum(terminated) > 0
        assert "terminating connection" in log.read_text(), "no cut reached the processor"
        # Left alone, the same processor reconnects and applies the rest.
        assert wait_for(lambda: waiting() == 0, timeout=180), waiting()
        assert running.poll() is None, log.read_text()[-3000:]
    finally:
        if running is not None:
            os.killpg(running.pid, signal.SIGTERM)
            running.wait(timeout=30)

    assert Incident.objects.count() == keys
    assert Alert.objects.count() == keys
    assert set(Alert.objects.values_list("times_received", flat=True)) == {repeats}
