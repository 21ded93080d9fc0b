"""`make run` on a fresh machine: it installs, migrates, seeds, starts, and answers; an alert
posted to it opens an incident; and a process killed outright is started again while the
rest go on, so that the service answers and escalates again within 30 s."""

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import free_port, session_members, wait_for
from tests.integrations.conftest import payload

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = [line.partition(":")[0] for line in (ROOT / "Procfile").read_text().splitlines()]
RECOVERED_WITHIN = 30.0

pytestmark = pytest.mark.skipif(
    os.environ.get("CI") != "true" and not os.environ.get("HIKESHI_SMOKE"),
    reason="slow; runs in CI (or with HIKESHI_SMOKE=1)",
)


class Running:
    """`make run` in a folder of its own, as a new user starts it."""

    def __init__(self, tmp: Path):
        self.port = free_port()
        self.var = tmp / "var"
        self.log_path = tmp / "run.log"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
        } | {
            "PORT": str(self.port),
            "HIKESHI_VAR_DIR": str(self.var),
            "DJANGO_SUPERUSER_PASSWORD": "smoke-test-password",
            "ESCALATION_SWEEP_SECONDS": "1",
        }
        self.process = subprocess.Popen(
            ["make", "run", f"PORT={self.port}"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        # Read through a file of our own: the child's shares its offset with the process.
        return self.log_path.read_text(errors="replace")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def health(self) -> tuple[int, dict] | None:
        try:
            with urllib.request.urlopen(self.url("/api/health"), timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)
        except OSError:
            return None

    def healthy(self) -> bool:
        answer = self.health()
        return answer is not None and answer[1]["status"] == "ok"

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [str(ROOT / ".venv/bin/python"), "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    def pid(self, name: str) -> int | None:
        """The process's pid as its supervisor knows it, None while it is not running."""
        answer = subprocess.run(
            [
                str(ROOT / ".venv/bin/supervisorctl"),
                "--configuration",
                str(self.var / "supervisord.conf"),
                "pid",
                f"hikeshi:{name}",
            ],
            capture_output=True,
            text=True,
        ).stdout.strip()
        return int(answer) if answer.isdigit() and answer != "0" else None

    def call(self, method: str, path: str, token: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.url(path),
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def level(self, key: str, token: str) -> int | None:
        """The incident's escalation level; None while the web does not answer."""
        try:
            return self.call("GET", f"/api/v1/incidents/{key}/", token)["escalation_level"]
        except OSError:
            return None

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        # supervisord puts each process in a group of its own, inside make's session.
        wait_for(lambda: not session_members(self.process.pid), timeout=60, interval=0.2)
        for pid in session_members(self.process.pid):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    run = Running(tmp_path_factory.mktemp("make-run"))
    try:
        # Ok once every process has started and written its pulse (503 until the first sweep).
        up = wait_for(lambda: run.process.poll() is None and run.healthy(), timeout=240)
        assert up, run.output()[-3000:]
        yield run
    finally:
        run.stop()
    assert (run.var / "hikeshi.sqlite3").exists()


def test_make_run_starts_every_process_and_health_answers(running):
    status, body = running.health()
    assert status == 200 and body["status"] == "ok"
    output = running.output()
    assert running.url("/admin/") in output
    assert running.url("/api/docs/") in output
    for name in PROCESSES:
        assert f"spawned: '{name}'" in output, output[-3000:]
        assert running.pid(name), name


def test_an_alert_posted_to_it_opens_an_incident(running):
    """As a new user would from the README: an integration, an alert, an incident."""
    secret = running.manage("create_integration", "--kind", "alertmanager", "--name", "smoke")
    request = urllib.request.Request(
        running.url("/api/v1/integrations/alertmanager/"),
        data=json.dumps(payload("alertmanager_firing")).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {secret}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    count = "from incidents.models import Incident; print(Incident.objects.count())"
    opened = wait_for(
        lambda: running.manage("shell", "-v", "0", "-c", count) == "1", timeout=60, interval=0.5
    )
    assert opened, running.output()[-3000:]


@pytest.fixture(scope="module")
def token(running):
    token = running.manage("create_api_token", "admin")
    running.call(
        "POST",
        "/api/v1/escalation-policies/",
        token,
        {
            "name": "fast",
            "is_default": False,
            "stop_on": "resolved",
            "severities": [],
            "categories": [],
            "levels": [
                {"number": 1, "name": "first", "delay_seconds": 0, "emails": ["a@x.test"]},
                {"number": 2, "name": "second", "delay_seconds": 2, "emails": ["b@x.test"]},
            ],
        },
    )
    return token


@pytest.mark.faults
@pytest.mark.parametrize("name", PROCESSES)
def test_a_process_killed_is_started_again_and_the_service_escalates_again(running, token, name):
    before = running.pid(name)
    assert before, running.output()[-3000:]
    killed_at = time.monotonic()
    os.kill(before, signal.SIGKILL)

    def within_bound() -> float:
        return max(0.1, RECOVERED_WITHIN - (time.monotonic() - killed_at))

    restarted = wait_for(lambda: running.pid(name) not in (None, before), timeout=within_bound())
    assert restarted, running.output()[-3000:]
    assert wait_for(running.healthy, timeout=within_bound()), running.health()
    incident = running.call(
        "POST",
        "/api/v1/incidents/",
        token,
        {"title": f"after {name} was killed", "severity": "P2", "policy": "fast"},
    )
    reached = wait_for(
        lambda: (
            running.call("GET", f"/api/v1/incidents/{incident['key']}/", token)["escalation_level"]
            == 2
        ),
        timeout=within_bound(),
        interval=0.2,
    )
    assert reached, running.output()[-3000:]
    assert f"exited: {name} (terminated by SIGKILL; not expected)" in running.output()
