"""Two machines at once: two complete sets of processes (web, the three workers, the alert
processor, beat, under their supervisor, as `make run` starts them) on one PostgreSQL and one
Redis. Incidents and alerts arrive through both webs; both beats fire the periodic work at the
same time, every few seconds; then one whole set is killed outright and the other carries on.

Every escalation and notice happens once, each recipient gets one hourly digest and one daily
report, each maintenance checklist gets one run per period, the monthly report is written
whole, and nothing the killed set held is lost.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from checklists.models import ChecklistRun
from config.base import SYSTEM
from escalation.models import Escalation
from incidents import services
from incidents.models import Incident
from integrations.services import integration_create
from notices.models import Notice
from ops.reports import Month, ops_report_write
from tests.conftest import need_service
from tests.escalation.conftest import SMTPServer, make_policy
from tests.factories import UserFactory, token_for
from tests.helpers import (
    ROOT,
    TEST_REDIS,
    free_port,
    http,
    reachable,
    running_database_url,
    session_members,
    spare_redis_url,
    wait_for,
)
from tests.integrations.conftest import payload

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

REDIS_DB = 10  # a spare database: nothing these processes publish reaches another test
INCIDENTS = 40  # declared through the webs, half before the kill and half after
ALERT_KEYS = 20  # each sent to both webs: one incident per key
SWEEP_SECONDS = 1
# What beat fires on a clock of hours or days, fired every few seconds here: both beats send
# each again and again, their runs overlapping, and the work must still happen once.
PERIODIC_SECONDS = 3
PERIODIC = [
    "escalation.digests_hourly",
    "escalation.report_daily",
    "checklists.maintenance_run_create",
    "ops.write_monthly_report",
]


class Machine:
    """`python -m config.supervise`: what `make run` starts, after its setup, on one host."""

    def __init__(self, name: str, tmp: Path, env: dict):
        self.name, self.port = name, free_port()
        self.var = tmp / name
        self.log_path = tmp / f"{name}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "config.supervise", "--port", str(self.port)],
            cwd=ROOT,
            env=env | {"HIKESHI_VAR_DIR": str(self.var)},
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def healthy(self) -> bool:
        status, body, _headers = http("GET", self.url("/api/health"))
        return status == 200 and json.loads(body)["status"] == "ok"

    def post(self, path: str, body: dict, headers: dict) -> int:
        data = json.dumps(body).encode()
        return http("POST", self.url(path), data, headers | {"Content-Type": "application/json"})[0]

    def kill(self) -> None:
        """kill -9 of every process of the set at once, the supervisor among them."""
        for pid in session_members(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()
        assert wait_for(lambda: not session_members(self.process.pid), timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=60)
        wait_for(lambda: not session_members(self.process.pid), timeout=30, interval=0.2)
        for pid in session_members(self.process.pid):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def smtp():
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def environment(tmp_path, smtp):
    need_service("PostgreSQL", connection.vendor == "postgresql")
    need_service("Redis", reachable(*TEST_REDIS))
    import redis

    broker = redis.Redis.from_url(spare_redis_url(REDIS_DB))
    broker.flushdb()
    yield os.environ | {
        "DATABASE_URL": running_database_url(),
        "CELERY_BROKER_URL": spare_redis_url(REDIS_DB),
        "EMAIL_URL": smtp.url,
        "SECRET_KEY": "two-machines",
        "ESCALATION_SWEEP_SECONDS": str(SWEEP_SECONDS),
        "NOTICE_SWEEP_SECONDS": "1",
        # A notice caught "sending" by the kill is taken up again after 5 s, not 10 minutes.
        "NOTICE_SENDING_TIMEOUT_SECONDS": "5",
        "ALERT_PROCESSOR_LANES": "2",
        "WEB_CONCURRENCY": "1",
        # Both machines write their reports into one shared folder (as a shared volume would).
        "OPS_REPORT_DIR": str(tmp_path / "reports"),
        "POSTMORTEM_DIR": str(tmp_path / "incidents"),
        "PYTHONUNBUFFERED": "1",
    }
    broker.flushdb()


def digests_waiting(sysadmin) -> None:
    """P2 and P3 incidents whose notices wait for the hourly digest and the daily report,
    written before the current periods began."""
    make_policy("quiet", levels=[(1, 0, ["p2@x.test", "p3@x.test", "both@x.test"], "")])
    for severity in ("P2", "P3", "P2", "P3"):
        services.incident_declare(
            actor=sysadmin, title=f"{severity} のお知らせ", severity=severity, policy_name="quiet"
        )
    Notice.objects.filter(kind="notice").update(created_at=timezone.now() - timedelta(days=2))


def every_few_seconds(task: str) -> int:
    """Beat's entries for `task`, moved onto a schedule of every few seconds (both beats
    reload): often enough to race, seldom enough that the monthly report's charts keep up."""
    each_second, _ = IntervalSchedule.objects.get_or_create(
        every=PERIODIC_SECONDS, period=IntervalSchedule.SECONDS
    )
    moved = 0
    for entry in PeriodicTask.objects.filter(task=task):
        entry.crontab, entry.interval = None, each_second
        entry.save()  # through save(): the change signal is what the schedulers watch
        moved += 1
    return moved


def sent_tasks(machine: Machine, task: str) -> int:
    return machine.output().count(f"({task})")


def test_two_machines_do_everything_once_and_one_carries_on_when_the_other_is_killed(
    environment, smtp, tmp_path, settings, record_property
):
    call_command("load_runbook_defaults", verbosity=0)
    sysadmin = UserFactory(roles=["sysadmins"])
    token = {"Authorization": f"Token {token_for(sysadmin)}"}
    make_policy("twice", levels=[(1, 0, ["l1@x.test"], ""), (2, 4, ["l2@x.test"], "")])
    _integration, secret = integration_create(
        name="storm", kind="pagerduty", actor=SYSTEM, policy="twice"
    )
    digests_waiting(sysadmin)

    machines = [Machine("a", tmp_path, environment), Machine("b", tmp_path, environment)]
    a, b = machines
    try:
        for machine in machines:
            up = wait_for(machine.healthy, timeout=240, interval=0.5)
            assert up, machine.output()[-4000:]
        # Both beats have copied their static entries into the shared tables by now.
        assert wait_for(lambda: PeriodicTask.objects.filter(task=PERIODIC[0]).exists())
        for task in PERIODIC:
            assert every_few_seconds(task), task

        def declare(machine: Machine, n: int) -> None:
            body = {"title": f"二台で {n}", "severity": "P1", "policy": "twice"}
            assert machine.post("/api/v1/incidents/", body, token) == 201

        def alert(machine: Machine, key: int) -> None:
            body = payload("pagerduty_trigger") | {"routing_key": secret, "dedup_key": f"k{key}"}
            assert machine.post("/v2/enqueue", body, {}) == 202

        for n in range(INCIDENTS // 2):
            declare(machines[n % 2], n)
        for key in range(ALERT_KEYS // 2):
            alert(a, key)
            alert(b, key)

        # Both beats send each periodic task at least once before one machine goes.
        for machine in machines:
            fired = wait_for(
                lambda m=machine: all(sent_tasks(m, task) for task in PERIODIC),
                timeout=150,
                interval=0.5,
            )
            assert fired, machine.output()[-4000:]
        b.kill()
        killed_at = timezone.now()
        caught_sending = Notice.objects.filter(status="sending").count()

        for n in range(INCIDENTS // 2, INCIDENTS):
            declare(a, n)
        for key in range(ALERT_KEYS // 2, ALERT_KEYS):
            alert(a, key)
            alert(a, key)

        twice = Incident.objects.filter(policy__name="twice")
        expected = INCIDENTS + ALERT_KEYS
        done = wait_for(
            lambda: (
                twice.count() == expected
                and Escalation.objects.filter(incident__in=twice, level=2).count() == expected
                and not Notice.objects.exclude(status="sent").filter(delivery="immediate").exists()
            ),
            timeout=180,
            interval=0.5,
        )
        assert done, (
            twice.count(),
            Escalation.objects.filter(level=2).count(),
            Counter(Notice.objects.values_list("status", flat=True)),
            a.output()[-4000:],
        )
        # Digests, reports and runs are sent by the next sweep; the periodic work goes on on a.
        assert wait_for(
            lambda: not Notice.objects.exclude(kind="notice").exclude(status="sent").exists(),
            timeout=60,
        )
        fired_on_a_after_the_kill = {task: sent_tasks(a, task) for task in PERIODIC}
    finally:
        for machine in machines:
            machine.stop()

    # Every escalation once; level 2 on time after the kill, from the machine left.
    per_level = Escalation.objects.values("incident", "level").annotate(n=Count("pk"))
    assert {row["n"] for row in per_level} == {1}
    assert per_level.filter(incident__policy__name="twice").count() == 2 * expected
    late_after_kill = [
        (e.fired_at - e.deadline).total_seconds()
        for e in Escalation.objects.filter(level=2, deadline__gt=killed_at)
    ]
    assert late_after_kill and max(late_after_kill) < 30, late_after_kill

    # Every notice once: one Message-ID each in the mail server, resent only if the kill
    # caught it between the server's acceptance and the commit (and then the same Message-ID).
    notices = Notice.objects.filter(status="sent", channel="email", digest__isnull=True)
    expected_ids = Counter(n.message_id for n in notices)
    received = Counter(message["Message-ID"] for _r, message, _t in smtp.mailbox.received)
    assert set(received) == set(expected_ids)
    resent = sum(n - 1 for n in received.values())
    assert resent <= caught_sending, (resent, caught_sending)
    record_property("resent_after_kill", resent)

    # One hourly digest and one daily report per recipient, however often both beats fired.
    for kind in ("digest", "report"):
        per_recipient = Counter(Notice.objects.filter(kind=kind).values_list("recipient", "period"))
        assert per_recipient and set(per_recipient.values()) == {1}, (kind, per_recipient)
    digested = Notice.objects.filter(kind="digest").values_list("recipient", flat=True)
    assert {"p2@x.test", "p3@x.test", "both@x.test"} <= set(digested)
    reported = Notice.objects.filter(kind="report").values_list("recipient", flat=True)
    assert {"p2@x.test", "p3@x.test", "both@x.test"} <= set(reported)

    # One maintenance run per template and period.
    runs = ChecklistRun.objects.filter(period_start__isnull=False)
    per_period = Counter(runs.values_list("template", "period_start"))
    assert len({template for template, _p in per_period}) == 3
    assert set(per_period.values()) == {1}

    # The monthly report: one file, whole: the sections and the last line one writer alone
    # gives now (its figures may differ: notices it counts were sent after it was written).
    month = Month.previous_of(timezone.now())
    # (A writer killed mid-write may leave its hidden temporary file; readers never see it.)
    written = sorted(p.name for p in (tmp_path / "reports").glob("[!.]*.md"))
    assert written == [f"{month}.md"]
    settings.OPS_REPORT_DIR = str(tmp_path / "alone")
    alone = ops_report_write(month=month)
    shared = (tmp_path / "reports" / written[0]).read_text().splitlines()
    alone = alone.read_text().splitlines()
    assert [line for line in shared if line.startswith("#")] == [
        line for line in alone if line.startswith("#")
    ]
    assert shared[-1] == alone[-1]

    # Both beats did fire everything more than once: the work above was raced for real.
    for task in PERIODIC:
        assert sent_tasks(b, task) >= 1
        assert fired_on_a_after_the_kill[task] + sent_tasks(b, task) >= 2
