"""/metrics: what Hikeshi holds, in Prometheus' exposition format, read from the database at
scrape time; behind METRICS_TOKEN when it is set; scraped by a real Prometheus."""

import json
import shutil
import subprocess
import urllib.parse
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import need_service
from tests.escalation.conftest import make_policy
from tests.helpers import free_port, wait_for


def samples(response) -> dict:
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_open_incidents_escalations_and_notices_are_counted(client, declare):
    make_policy("m", levels=[(1, 0, ["ops@x.test"], "")])
    declare(severity="P1", policy_name="m")
    declare(severity="P1", policy_name="m")
    declare(severity="P0", policy_name="m")

    found = samples(client.get("/metrics"))

    assert found[("hikeshi_incidents_open", (("severity", "P1"), ("state", "detected")))] == 2
    assert found[("hikeshi_incidents_open", (("severity", "P0"), ("state", "detected")))] == 1
    assert found[("hikeshi_escalations_total", (("level", "1"),))] == 3
    assert found[("hikeshi_notices", (("channel", "email"), ("status", "pending")))] == 3
    assert found[("hikeshi_escalations_overdue", ())] == 0
    assert ("hikeshi_notice_delivery_seconds_gcount", ()) in found


def test_requests_are_measured_by_view(client, db):
    client.get("/api/health/live")

    found = samples(client.get("/metrics"))

    assert any(
        name.startswith("django_http_requests_latency_seconds_by_view_method")
        and dict(labels).get("view") == "health-live"
        for name, labels in found
    )


def test_a_metrics_token_is_required_when_set(client, db, settings):
    settings.METRICS_TOKEN = "scrape-secret"

    refused = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer guess")
    allowed = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")

    assert (refused.status_code, wrong.status_code, allowed.status_code) == (401, 401, 200)
    assert refused.json()["error"] == "authentication_failed"


@pytest.mark.django_db(transaction=True)
def test_a_real_prometheus_scrapes_the_open_incidents(live_server, declare, tmp_path, settings):
    prometheus = shutil.which("prometheus")
    need_service("prometheus (Debian package)", prometheus is not None)
    settings.METRICS_TOKEN = "scrape-secret"
    for _ in range(3):
        declare(severity="P2")
    (tmp_path / "token").write_text("scrape-secret")
    target = urllib.parse.urlsplit(live_server.url).netloc
    (tmp_path / "prometheus.yml").write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "hikeshi",
                        "metrics_path": "/metrics",
                        "authorization": {"credentials_file": str(tmp_path / "token")},
                        "static_configs": [{"targets": [target]}],
                    }
                ],
            }
        )
    )
    port = free_port()
    process = subprocess.Popen(
        [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )

    def open_incidents():
        query = urllib.parse.urlencode({"query": "sum(hikeshi_incidents_open)"})
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/v1/query?{query}", timeout=2
            ) as answer:
                result = json.load(answer)["data"]["result"]
        except OSError:
            return None
        return float(result[0]["value"][1]) if result else None

    try:
        assert wait_for(lambda: open_incidents() == 3, timeout=60, interval=0.5)
    finally:
        process.terminate()
        process.wait(timeout=30)
