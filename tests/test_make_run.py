"""`make run` on a fresh machine: it installs, migrates, seeds, starts, and answers; an
alert posted to it opens an incident."""

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import free_port, wait_for
from tests.integrations.conftest import payload

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(
    os.environ.get("CI") != "true" and not os.environ.get("HIKESHI_SMOKE"),
    reason="slow; runs in CI (or with HIKESHI_SMOKE=1)",
)
def test_make_run_starts_web_worker_and_beat_and_health_answers(tmp_path):
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env |= {
        "PORT": str(port),
        "HIKESHI_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SUPERUSER_PASSWORD": "smoke-test-password",
    }
    log_path = tmp_path / "run.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        body = None
        # Ok once every process has started and written its pulse (503 until the first sweep).
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as r:
                    body = json.load(r)
                    status = r.status
                if body["status"] == "ok":
                    break
            except OSError:
                pass
            time.sleep(0.5)
        # Read through a file of our own: `log` shares its offset with the running child.
        output = log_path.read_text()
        assert body is not None, output[-3000:]
        assert status == 200 and body["status"] == "ok"
        assert f"http://127.0.0.1:{port}/admin/" in output
        assert f"http://127.0.0.1:{port}/api/docs/" in output
        for name in ("web", "worker", "timers", "chat", "alerts", "beat"):
            assert f"{name}.1" in output, output[-3000:]
        assert_an_alert_opens_an_incident(port, env, log_path)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    assert (tmp_path / "var" / "hikeshi.sqlite3").exists()


def assert_an_alert_opens_an_incident(port: int, env: dict, log_path: Path) -> None:
    """As a new user would from the README: an integration, an alert, an incident."""

    def manage(*args: str) -> str:
        return subprocess.run(
            [str(ROOT / ".venv/bin/python"), "manage.py", *args],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    secret = manage("create_integration", "--kind", "alertmanager", "--name", "smoke")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/integrations/alertmanager/",
        data=json.dumps(payload("alertmanager_firing")).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {secret}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    count = "from incidents.models import Incident; print(Incident.objects.count())"
    opened = wait_for(
        lambda: manage("shell", "-v", "0", "-c", count) == "1", timeout=60, interval=0.5
    )
    assert opened, log_path.read_text()[-3000:]
