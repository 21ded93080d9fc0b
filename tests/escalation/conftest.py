"""Escalation test helpers: policies as data, a real SMTP server, a real Celery worker."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.db import connection

from config.celery import app as celery_app
from escalation.models import EscalationLevel, EscalationPolicy, Team
from tests.conftest import need_service
from tests.helpers import TEST_REDIS, free_port, reachable, spare_redis_url, wait_for

ROOT = Path(__file__).resolve().parents[2]
WORKER_REDIS_DB = 13  # a spare database: the worker tests never see anyone else's tasks


def make_policy(
    name="test",
    *,
    levels,
    stop_on="resolved",
    is_default=False,
    severities=(),
    categories=(),
):
    """levels: [(number, delay seconds, [addresses], min_severity or "", and optionally
    whether its notices show the 24-hour phone)]."""
    policy = EscalationPolicy.objects.create(
        name=name,
        stop_on=stop_on,
        is_default=is_default,
        severities=list(severities),
        categories=list(categories),
    )
    for number, delay, addresses, min_severity, *rest in levels:
        level = EscalationLevel.objects.create(
            policy=policy,
            number=number,
            name=f"L{number} team",
            delay=timedelta(seconds=delay),
            min_severity=min_severity,
            emergency_contact=bool(rest and rest[0]),
        )
        for address in addresses:
            team, _ = Team.objects.get_or_create(
                name=address.split("@")[0].replace(".", "-"),
                defaults={"name_ja": address, "name_en": address, "email": address},
            )
            level.teams.add(team)
    return policy


def subject_of(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def key_of(message) -> str:
    return re.search(r"INC-\d+", subject_of(message)).group(0)


# --- a real SMTP server on loopback -------------------------------------------------------


class Mailbox:
    """Every message the server accepted: (recipient, parsed message, time received)."""

    def __init__(self):
        self.received: list[tuple[str, object, float]] = []
        self.lock = threading.Lock()
        self.reject: set[str] = set()
        # While set, every recipient is refused with this reply (a 4xx or 5xx), and counted.
        self.refusing: str | None = None
        self.refused = 0
        # Domains whose recipients are refused with `refusing_domains_reply`, the others kept.
        self.refusing_domains: set[str] = set()
        self.refusing_domains_reply = "451 4.7.1 try again later"
        # The client end of each connection a message arrived on: one per SMTP session.
        self.peers: list[object] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return "550 5.1.1 mailbox unavailable"
        if self.refusing:
            self.refused += 1
            return self.refusing
        if address.rsplit("@", 1)[-1] in self.refusing_domains:
            self.refused += 1
            return self.refusing_domains_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        parsed = message_from_bytes(envelope.original_content or envelope.content)
        with self.lock:
            if session.peer not in self.peers:
                self.peers.append(session.peer)
            for rcpt in envelope.rcpt_tos:
                self.received.append((rcpt, parsed, time.monotonic()))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list:
        with self.lock:
            return [m for r, m, _t in self.received if r == address]

    def addresses(self) -> list[str]:
        with self.lock:
            return [r for r, _m, _t in self.received]


class SMTPServer:
    def __init__(self):
        self.port = free_port()
        self.mailbox = Mailbox()
        self.controller = None

    def start(self):
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


@pytest.fixture
def smtp():
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_backend(settings, smtp):
    """This process sends through the real SMTP server."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 2
    return smtp


# --- a real Celery worker --------------------------------------------------------------------


def redis_url(db: int = WORKER_REDIS_DB) -> str:
    return spare_redis_url(db)


@contextmanager
def publishing_to(url: str):
    """Point this process's Celery producer at `url` (the worker's broker, or a dead port)."""
    # Celery reads CELERY_BROKER_URL from the environment before its configuration.
    previous = celery_app.conf.broker_url, os.environ.get("CELERY_BROKER_URL")
    celery_app.conf.broker_url = os.environ["CELERY_BROKER_URL"] = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    try:
        yield
    finally:
        celery_app.conf.broker_url = previous[0]
        if previous[1] is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = previous[1]
        celery_app._pool = None
        celery_app.amqp._producer_pool = None


# A machine whose clock runs ahead: the worker's wall clock (time.time, datetime.now) moved
# by argv[1] seconds and ticking; its monotonic clock, which sleeps and timeouts use, is left.
SHIFTED_CLOCK = (
    "import datetime, sys, time_machine;"
    "ahead = datetime.timedelta(seconds=float(sys.argv.pop(1)));"
    "time_machine.travel(datetime.datetime.now(datetime.UTC) + ahead, tick=True).start();"
    "sys.argv[:2] = ['celery'];"
    "from celery.__main__ import main; main()"
)


class Worker:
    """`celery -A config worker -B` against the test database and a spare Redis database;
    `queues` and `beat` make the other workers of the Procfile (the chat worker: "chat",
    without beat)."""

    def __init__(
        self,
        *,
        smtp_url: str,
        tmp_path: Path,
        queues: str = "celery,timers",
        beat=True,
        clock_ahead: float = 0,
        **env,
    ):
        self.queues, self.beat, self.clock_ahead = queues, beat, clock_ahead
        db = connection.settings_dict
        self.env = os.environ | {
            "DATABASE_URL": (
                f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
                f"/{db['NAME']}"
            ),
            "CELERY_BROKER_URL": redis_url(),
            "EMAIL_URL": smtp_url,
            "ESCALATION_SWEEP_SECONDS": "1",
            "NOTICE_SWEEP_SECONDS": "1",
            "NOTICE_RETRY_BASE_SECONDS": "0.5",
            "NOTICE_RETRY_MAX_SECONDS": "1",
            "EMAIL_TIMEOUT": "2",
            "HIKESHI_VAR_DIR": str(tmp_path / "var"),
            "SECRET_KEY": "worker-tests",
            "DB_CONN_MAX_AGE": "0",
            "LOG_LEVEL": "WARNING",
            **env,
        }
        self.log = tmp_path / f"worker-{queues}.log"
        self.schedule = tmp_path / "beat-schedule"
        self.process = None

    def start(self):
        program = ["-c", SHIFTED_CLOCK, str(self.clock_ahead)] if self.clock_ahead else ["-m"]
        self.process = subprocess.Popen(
            [
                sys.executable,
                *program,
                "celery",
                "-A",
                "config",
                "worker",
                *(["-B", "--scheduler", "celery.beat:PersistentScheduler"] if self.beat else []),
                "-s",
                str(self.schedule),
                "-Q",
                self.queues,
                "-n",
                f"{self.queues.replace(',', '-')}@%h",
                "-P",
                "threads",
                "-c",
                "2",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "WARNING",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # Ready when it answers a ping: only then are its consumers listening.
        name = f"{self.queues.replace(',', '-')}@"
        ready = wait_for(
            lambda: (
                any(name in next(iter(r)) for r in celery_app.control.ping(timeout=0.3))
                or self.process.poll() is not None
            ),
            timeout=30,
        )
        if not (ready and self.process.poll() is None):
            self.stop()
            pytest.fail(f"worker did not start: {self.log.read_text()[-3000:]}")

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


@pytest.fixture
def worker_env():
    """Redis and PostgreSQL are required (the worker shares the test database)."""
    need_service("Redis", reachable(*TEST_REDIS))
    need_service("PostgreSQL test database", connection.vendor == "postgresql")
    import redis

    redis.Redis.from_url(redis_url()).flushdb()
    with publishing_to(redis_url()):
        yield


@contextmanager
def running_worker(smtp: SMTPServer, tmp_path: Path, **env):
    process = Worker(smtp_url=smtp.url, tmp_path=tmp_path, **env)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def worker(worker_env, smtp, tmp_path):
    with running_worker(smtp, tmp_path) as process:
        yield process
