"""PostgreSQL restarted under the running web, worker and alert processor: requests during the
restart get their incident or a 503 JSON error, never a 500 and never a half-written incident;
afterwards every process reconnects by itself, every incident escalates once and every alert
is applied once.

The server restarted is one of this test's own (initdb in a temporary folder), so that the
rest of the suite keeps its database.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import psycopg
import pytest

from alerts.models import Alert
from escalation.models import Escalation
from incidents.models import Incident, TimelineEvent
from integrations.models import AlertDelivery
from notices.models import Notice
from tests.conftest import need_service
from tests.escalation.conftest import Worker, publishing_to, redis_url
from tests.helpers import ROOT, TEST_REDIS, free_port, gunicorn_serving, http, reachable, wait_for
from tests.integrations.conftest import payload
from tests.integrations.test_faults import processor

pytestmark = [pytest.mark.worker, pytest.mark.faults, pytest.mark.django_db(transaction=True)]

BEFORE, ALERT_KEYS = 5, 10


def postgres_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class Postgres:
    """A PostgreSQL server of this test's own, run as the `postgres` user (it refuses root)."""

    def __init__(self):
        self.bin = postgres_binaries()
        need_service("PostgreSQL server binaries", self.bin is not None)
        # Not under pytest's temporary folders: only their owner may enter them.
        self.home = Path(tempfile.mkdtemp(prefix="hikeshi-postgres-"))
        self.home.chmod(0o755)
        self.port, self.data = free_port(), self.home / "data"
        self.data.mkdir()
        self.user = [] if os.geteuid() else ["runuser", "-u", "postgres", "--"]
        if self.user:
            shutil.chown(self.data, "postgres")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/hikeshi"

    def run(self, *command: str) -> None:
        subprocess.run([*self.user, *command], check=True, capture_output=True, cwd="/")

    def start(self) -> None:
        self.run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust")
        self.ctl("start")
        with psycopg.connect(self.url.replace("/hikeshi", "/postgres"), autocommit=True) as db:
            db.execute("CREATE DATABASE hikeshi")

    def ctl(self, action: str) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
        self.run(str(self.bin / "pg_ctl"), action, "-D", str(self.data), "-m", "fast",
                 "-w", "-t", "60", "-o", options, "-l", str(self.data / "server.log"))  # fmt: skip

    def value(self, sql: str) -> int:
        with psycopg.connect(self.url) as db:
            return db.execute(sql).fetchone()[0]

    def count(self, model, where: str = "TRUE") -> int:
        return self.value(f"SELECT count(*) FROM {model._meta.db_table} WHERE {where}")


@pytest.fixture
def postgres():
    server = Postgres()
    server.start()
    try:
        yield server
    finally:
        server.ctl("stop")
        shutil.rmtree(server.home, ignore_errors=True)


@pytest.fixture
def broker():
    """The worker tests' spare Redis database, empty, and this process publishing to it."""
    need_service("Redis", reachable(*TEST_REDIS))
    import redis

    redis.Redis.from_url(redis_url()).flushdb()
    with publishing_to(redis_url()):
        yield redis_url()


def migrated(url: str, tmp_path: Path) -> dict:
    env = os.environ | {"DATABASE_URL": url, "HIKESHI_VAR_DIR": str(tmp_path / "var")}
    for command in (["migrate", "--noinput", "-v0"], ["load_runbook_defaults"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True,
                       capture_output=True)  # fmt: skip
    script = (
        "import json; from config.base import SYSTEM;"
        "from integrations.services import integration_create;"
        "from tests.factories import UserFactory, token_for;"
        "from tests.escalation.conftest import make_policy;"
        "make_policy('twice', levels=[(1, 0, ['l1@x.test'], ''), (2, 3, ['l2@x.test'], '')]);"
        "_i, secret = integration_create(name='r', kind='pagerduty', actor=SYSTEM, policy='twice');"
        "token = token_for(UserFactory(roles=['sysadmins']));"
        "print(json.dumps({'secret': secret, 'token': token}))"
    )
    shell = [sys.executable, "manage.py", "shell", "-v", "0", "-c", script]
    out = subprocess.run(shell, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_postgresql_restart_under_every_process_loses_nothing_and_each_reconnects(
    postgres, broker, tmp_path
):
    secrets = migrated(postgres.url, tmp_path)
    headers = {"Authorization": f"Token {secrets['token']}", "Content-Type": "application/json"}
    on_it = {"DATABASE_URL": postgres.url, "CELERY_BROKER_URL": broker}

    def declare(url: str, n: int) -> tuple[int, bytes, dict]:
        body = json.dumps({"title": f"再起動 {n}", "severity": "P1", "policy": "twice"})
        return http("POST", f"{url}/api/v1/incidents/", body.encode(), headers)

    def alert(url: str, key: int) -> int:
        body = payload("pagerduty_trigger") | {"routing_key": secrets["secret"]}
        body["dedup_key"] = f"k{key}"
        data = json.dumps(body).encode()
        return http("POST", f"{url}/v2/enqueue", data, {"Content-Type": "application/json"})[0]

    def escalated(level: int) -> int:
        return postgres.count(Escalation, f"level = {level}")

    # A notice whose sending the restart cut short is taken up again after 5 s, not 10 min.
    worker = Worker(
        smtp_url="dummymail://", tmp_path=tmp_path, NOTICE_SENDING_TIMEOUT_SECONDS="5", **on_it
    )
    alerts = processor(tmp_path, "processor", **on_it)
    try:
        with gunicorn_serving(on_it | {"DB_CONN_MAX_AGE": "60"}) as web:
            worker.start()
            for n in range(BEFORE):
                assert declare(web, n)[0] == 201
            for key in range(ALERT_KEYS // 2):
                assert alert(web, key) == 202

            # Declarations go on, one after another, while the server restarts.
            answers, stop = [], threading.Event()

            def keep_declaring() -> None:
                n = BEFORE
                while not stop.is_set():
                    answers.append(declare(web, n))
                    n += 1
                    stop.wait(0.1)  # a steady stream, not a flood: each must escalate after

            declaring = threading.Thread(target=keep_declaring)
            declaring.start()
            try:
                assert wait_for(lambda: len(answers) >= 3, timeout=30)
                postgres.ctl("restart")
                assert wait_for(lambda: any(a[0] == 201 for a in answers[-3:]), timeout=60)
            finally:
                stop.set()
                declaring.join()
            for key in range(ALERT_KEYS // 2, ALERT_KEYS):
                assert alert(web, key) == 202

            declared = BEFORE + sum(a[0] == 201 for a in answers)
            settled = wait_for(
                lambda: (
                    postgres.count(Incident) >= declared + ALERT_KEYS
                    and escalated(2) == postgres.count(Incident)
                    and postgres.count(AlertDelivery) == 0
                    and postgres.count(Notice, "status <> 'sent'") == 0
                ),
                timeout=120,
                interval=0.5,
            )
            assert settled, (postgres.count(Incident), escalated(2), worker.log.read_text())
            wait_for(lambda: False, timeout=2)  # time for a second firing, if there were one
            assert worker.process.poll() is None and alerts.poll() is None
    finally:
        worker.stop()
        alerts.terminate()
        alerts.wait(timeout=30)

    statuses = [status for status, _body, _headers in answers]
    assert set(statuses) <= {201, 503}, sorted(set(statuses))
    for status, body, response_headers in answers:
        assert response_headers["Content-Type"].startswith("application/json")
        if status == 503:
            assert json.loads(body)["error"] == "database_unavailable"
    # Whole incidents only: each declared on its timeline, each level reached once.
    total = postgres.count(Incident)
    assert postgres.count(TimelineEvent, "kind = 'declared'") == total
    assert escalated(1) == escalated(2) == total
    twice = f"SELECT incident_id, level FROM {Escalation._meta.db_table} GROUP BY 1, 2"
    assert postgres.value(f"SELECT count(*) FROM ({twice} HAVING count(*) > 1) t") == 0
    assert postgres.count(Alert) == ALERT_KEYS
    assert postgres.count(Notice, "status <> 'sent'") == 0
