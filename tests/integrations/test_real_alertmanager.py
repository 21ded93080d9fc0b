"""A real Alertmanager, pointed at a live Hikeshi through both webhook and PagerDuty paths."""

import datetime as dt
import json
import shutil
import subprocess
import urllib.request

import pytest

from config.base import SYSTEM
from incidents.models import Incident, State
from integrations.services import integration_create
from tests import helpers
from tests.conftest import need_service
from tests.helpers import free_port

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

CONFIG = """
route:
  receiver: webhook
  group_by: ["alertname"]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['path="pagerduty"']
      receiver: pagerduty
receivers:
  - name: webhook
    webhook_configs:
      - url: {base}/api/v1/integrations/alertmanager/
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {webhook_secret}
  - name: pagerduty
    pagerduty_configs:
      - routing_key: {routing_key}
        url: {base}/v2/enqueue
        send_resolved: true
"""


def wait_for(predicate, timeout=30.0):
    return helpers.wait_for(predicate, timeout=timeout, interval=0.2)


@pytest.fixture
def alertmanager_url(live_server, alert_processor, tmp_path):
    need_service("prometheus-alertmanager (Debian package)", BINARY is not None)
    webhook, webhook_secret = integration_create(
        name="am-webhook", kind="alertmanager", actor=SYSTEM
    )
    pagerduty, routing_key = integration_create(name="am-pagerduty", kind="pagerduty", actor=SYSTEM)
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        CONFIG.format(base=live_server.url, webhook_secret=webhook_secret, routing_key=routing_key)
    )
    port = free_port()
    process = subprocess.Popen(
        [
            BINARY,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "alertmanager.log").open("w"),
    )
    url = f"http://127.0.0.1:{port}"

    def ready():
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    assert wait_for(ready, 20), (tmp_path / "alertmanager.log").read_text()[-2000:]
    yield url
    process.terminate()
    process.wait(timeout=10)


def post_alert(url, labels, ends_at=None):
    now = dt.datetime.now(dt.UTC)
    alert = {
        "labels": labels,
        "annotations": {"summary": f"{labels['alertname']} が発生しました"},
        "startsAt": (now - dt.timedelta(seconds=5)).isoformat(),
    }
    if ends_at:
        alert["endsAt"] = ends_at.isoformat()
    request = urllib.request.Request(
        f"{url}/api/v2/alerts",
        data=json.dumps([alert]).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "integration"), [("webhook", "am-webhook"), ("pagerduty", "am-pagerduty")]
)
def test_an_alert_sent_to_alertmanager_opens_and_resolves_an_incident(
    alertmanager_url, path, integration
):
    labels = {"alertname": f"E2E{path.title()}", "severity": "critical", "path": path}

    post_alert(alertmanager_url, labels)
    incident = wait_for(
        lambda: Incident.objects.filter(alerts__integration__name=integration).first()
    )
    assert incident is not None, "Alertmanager's notification never opened an incident"
    # The webhook carries the annotation; Alertmanager's PagerDuty notifier its own summary.
    assert f"E2E{path.title()}" in incident.title

    post_alert(alertmanager_url, labels, ends_at=dt.datetime.now(dt.UTC))
    resolved = wait_for(
        lambda: Incident.objects.filter(pk=incident.pk, state=State.POSTMORTEM).exists()
    )
    assert resolved, "the resolution never reached the incident"
    assert Incident.objects.filter(alerts__integration__name=integration).count() == 1
