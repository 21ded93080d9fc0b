"""Redis stopped while incidents are declared and alerts arrive, with the real web, worker and
alert processor running: the web answers 201 and 202 all the same, and once Redis is back
every incident escalates and every alert is applied, each once."""

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import redis
from django.db import connection
from django.db.models import Count, Sum

from alerts.models import Alert
from config.base import SYSTEM
from escalation.models import Escalation
from incidents.models import Incident
from integrations.services import integration_create
from notices.models import Notice
from tests.conftest import need_service
from tests.escalation.conftest import make_policy, publishing_to, running_worker
from tests.factories import UserFactory, token_for
from tests.helpers import free_port, gunicorn_serving, http, reachable, wait_for
from tests.integrations.conftest import payload
from tests.integrations.test_faults import processor

pytestmark = [pytest.mark.worker, pytest.mark.faults, pytest.mark.django_db(transaction=True)]

BEFORE, DURING = 3, 10  # incidents (and alert keys) before the stop and while Redis is down


class RedisServer:
    """A Redis of this test's own, stopped and started again on the same port (as a restart
    of the real one: what it held in memory is gone)."""

    def __init__(self, tmp_path: Path):
        self.binary = shutil.which("redis-server")
        need_service("redis-server", self.binary is not None)
        self.port, self.cwd, self.process = free_port(), tmp_path, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            cwd=self.cwd,
        )
        assert wait_for(lambda: reachable("127.0.0.1", self.port), timeout=30)

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def test_declarations_and_alerts_while_redis_is_down_are_answered_and_escalated_once_it_is_back(
    redis_server, smtp, tmp_path
):
    need_service("PostgreSQL", connection.vendor == "postgresql")
    make_policy("twice", levels=[(1, 0, ["l1@x.test"], ""), (2, 3, ["l2@x.test"], "")])
    make_policy("later", levels=[(1, 0, ["l1@x.test"], ""), (2, 20, ["l2@x.test"], "")])
    _integration, secret = integration_create(
        name="outage", kind="pagerduty", actor=SYSTEM, policy="twice"
    )
    token = token_for(UserFactory(roles=["sysadmins"]))
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    broker = {"CELERY_BROKER_URL": redis_server.url}

    def declare(url: str, n: int) -> int:
        body = json.dumps({"title": f"停止中 {n}", "severity": "P1", "policy": "twice"})
        return http("POST", f"{url}/api/v1/incidents/", body.encode(), headers)[0]

    def alert(url: str, key: int) -> int:
        body = payload("pagerduty_trigger") | {"routing_key": secret, "dedup_key": f"k{key}"}
        data = json.dumps(body).encode()
        return http("POST", f"{url}/v2/enqueue", data, {"Content-Type": "application/json"})[0]

    def escalated(level: int) -> int:
        return Escalation.objects.filter(level=level).count()

    alerts = processor(tmp_path, "processor", **broker)
    try:
        with (
            publishing_to(redis_server.url),
            running_worker(smtp, tmp_path, **broker) as worker,
            gunicorn_serving(broker) as web,
        ):
            for n in range(BEFORE):
                assert declare(web, n) == 201
                assert alert(web, n) == 202
            assert wait_for(lambda: escalated(2) == 2 * BEFORE, timeout=60), escalated(2)
            # The worker holds a wake-up for a level still to come when Redis goes (an
            # unacknowledged message: Celery 5.7.0's worker died of that on a connection loss).
            body = json.dumps({"title": "待機中", "severity": "P1", "policy": "later"})
            assert http("POST", f"{web}/api/v1/incidents/", body.encode(), headers)[0] == 201
            unacked = redis.Redis.from_url(redis_server.url)
            assert wait_for(lambda: unacked.hlen("unacked") > 0, timeout=30)

            redis_server.stop()
            during = [declare(web, n) for n in range(BEFORE, BEFORE + DURING)]
            during += [alert(web, key) for key in range(BEFORE, BEFORE + DURING) for _ in "ab"]
            assert set(during) == {201, 202}, Counter(during)
            assert during.count(201) == DURING and during.count(202) == 2 * DURING

            redis_server.start()
            total = BEFORE + DURING
            assert wait_for(lambda: escalated(2) >= 2 * total, timeout=120), (
                escalated(1),
                escalated(2),
            )
            assert wait_for(
                lambda: not Notice.objects.exclude(status="sent").exists(), timeout=120
            ), Counter(Notice.objects.values_list("status", flat=True))
            assert wait_for(lambda: escalated(2) == 2 * total + 1, timeout=120), escalated(2)
            wait_for(lambda: False, timeout=2)  # time for a second firing, if there were one
            assert worker.process.poll() is None, worker.log.read_text()[-3000:]
    finally:
        alerts.terminate()
        alerts.wait(timeout=30)

    total = BEFORE + DURING
    assert Incident.objects.count() == 2 * total + 1
    per_level = Escalation.objects.values("incident", "level").annotate(n=Count("pk"))
    assert per_level.count() == 2 * (2 * total + 1) and {row["n"] for row in per_level} == {1}
    # Each alert key once, each of its deliveries counted on it.
    assert Alert.objects.count() == total
    assert Alert.objects.aggregate(n=Sum("times_received"))["n"] == BEFORE + 2 * DURING
    # Every notice reached the mail server exactly once.
    received = Counter(message["Message-ID"] for _r, message, _t in smtp.mailbox.received)
    assert set(received.values()) == {1}
    assert set(received) == {n.message_id for n in Notice.objects.all()}
