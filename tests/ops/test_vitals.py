"""The runbook's 監視対象 on the board: the rules' own expressions asked of a real Prometheus,
which scrapes a small exporter standing in for the service's node and application."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
import time

import pytest
from django.urls import reverse

from ops import prometheus
from tests.conftest import need_service
from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.django_db


class Exporter:
    """CPU 90 % busy (idle grows 0.1 s a second), memory 50 % used, page views growing."""

    def __init__(self):
        self.started = time.monotonic()
        exporter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 — the standard library's name
                elapsed = time.monotonic() - exporter.started
                body = (
                    f'node_cpu_seconds_total{{cpu="0",mode="idle"}} {100 + 0.1 * elapsed}\n'
                    "node_memory_MemAvailable_bytes 50\n"
                    "node_memory_MemTotal_bytes 100\n"
                    f"luxucare_page_views_total {int(elapsed * 10)}\n"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.server_port}"


@pytest.fixture
def prometheus_url(tmp_path):
    binary = shutil.which("prometheus")
    need_service("prometheus (Debian package)", binary is not None)
    exporter = Exporter()
    (tmp_path / "prometheus.yml").write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [
                    {"job_name": "node", "static_configs": [{"targets": [exporter.target]}]}
                ],
            }
        )
    )
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        exporter.server.shutdown()


def reading(found: dict, name: str):
    """The reading of `name`, or None while Prometheus is not answering yet."""
    return next((r for r in found.get("readings", []) if r.vital.name == name), None)


def cpu_read():
    """Prometheus' answer once it holds the exporter's CPU series (None until then)."""
    found = prometheus.vitals_read()
    cpu = reading(found, "HighCpuUsage")
    return found if cpu is not None and cpu.value is not None else None


def test_the_vitals_are_the_alert_rules_expressions_without_their_thresholds():
    defined = {vital.name: vital for vital in prometheus.vitals_defined()}

    assert set(defined) == {
        "HighCpuUsage",
        "HighMemoryUsage",
        "HighDiskUsage",
        "HighNetworkLatency",
        "SlowApiResponses",
        "HighErrorRate",
        "TooManyConnections",
        "HighDatabaseConnections",
    }
    assert (defined["HighCpuUsage"].op, defined["HighCpuUsage"].threshold) == (">", 80)
    assert defined["HighDiskUsage"].threshold == 90
    assert defined["HighNetworkLatency"].threshold == 0.5
    assert defined["HighDatabaseConnections"].threshold == 0.8
    assert "> 80" not in defined["HighCpuUsage"].expr


def test_a_real_prometheus_gives_each_vital_against_its_threshold(prometheus_url, settings):
    settings.PROMETHEUS_URL = prometheus_url

    found = wait_for(cpu_read, timeout=90, interval=1)
    assert found, "Prometheus never held the exporter's series"

    cpu, memory = reading(found, "HighCpuUsage"), reading(found, "HighMemoryUsage")
    # 90 % once five minutes are scraped; rate() over a younger series reads higher still.
    assert 85 < cpu.value <= 100 and cpu.breached
    assert memory.value == pytest.approx(50) and not memory.breached
    assert reading(found, "HighDiskUsage").value is None  # no such series: shown as —
    assert memory.series  # the last hour, for the sparkline
    views = wait_for(
        lambda: [b for b in prometheus.vitals_read()["business"] if "Page views" in b["name"]],
        timeout=60,
        interval=1,
    )
    assert views[0]["value"] >= 0


def test_the_board_shows_the_vitals_coloured_by_state(prometheus_url, settings, client, operator):
    settings.PROMETHEUS_URL = prometheus_url
    assert wait_for(cpu_read, timeout=90, interval=1), "Prometheus never held the series"
    prometheus.cache.delete("ops:vitals")
    client.force_login(operator)

    body = client.get(reverse("ops-monitoring")).content.decode()

    assert 'class="breached" data-vital="HighCpuUsage"' in body
    assert 'class="within" data-vital="HighMemoryUsage"' in body


def test_prometheus_unreachable_the_panel_says_so_and_the_board_works(
    settings, client, operator, declare
):
    settings.PROMETHEUS_URL = f"http://127.0.0.1:{free_port()}"
    prometheus.cache.delete("ops:vitals")
    incident = declare()
    client.force_login(operator)

    response = client.get(reverse("ops-monitoring"), HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    body = response.content.decode()
    assert "Prometheus does not answer" in body
    assert f'id="row-{incident.key}"' in body


def test_a_sparkline_spans_the_box_from_lowest_to_highest():
    line = prometheus.Reading(prometheus.vitals_defined()[0], 3.0, [1.0, 2.0, 3.0])

    points = [tuple(map(float, p.split(","))) for p in line.sparkline.split()]

    assert [x for x, _ in points] == [0.0, 50.0, 100.0]
    assert points[0][1] == 19.0 and points[-1][1] == 1.0  # low at the bottom, high at the top
    assert prometheus.Reading(line.vital, 1.0, [1.0]).sparkline == ""
