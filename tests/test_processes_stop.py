"""Every long-running process of the Procfile (web, the workers, the alert processor and its
lanes, beat) is gone within 10 s of one SIGTERM, whenever it comes: while Python imports,
while Django and Celery set up, while the processor forks its lanes, and once it is ready."""

import functools
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from integrations.services import LANE_LOCK
from tests.conftest import need_service
from tests.helpers import (
    TEST_REDIS,
    free_port,
    reachable,
    running_database_url,
    session_members,
    spare_redis_url,
    wait_for,
)

ROOT = Path(__file__).resolve().parent.parent
REDIS_DB = 11  # a spare database: nothing these processes publish reaches another test
# When the stop is sent: a number of seconds after spawn, or a few milliseconds after a sign
# of the process's start-up (the moments its handlers change hands). The moment is this
# test's input, so these are sleeps by design; what it waits for (all gone) is a condition.
AFTER_SPAWN = (0.0, 0.01, 0.05, 0.1, 0.3, 1.0)
AFTER_SIGN = (0.0, 0.02, 0.1)
ROUNDS = 1  # every moment once per process (the suite runs on every change)
# The bound, on a loaded machine: an idle worker's warm shutdown takes about 2 s.
STOPPED_WITHIN = 10.0


def procfile_commands(port: int) -> dict[str, list[str]]:
    """The Procfile's lines, run with this interpreter (CI and the venv share it)."""
    commands = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        words = shlex.split(command.replace("$PORT", str(port)))
        program = {
            ".venv/bin/python": [sys.executable],
            ".venv/bin/celery": [sys.executable, "-m", "celery"],
        }
        commands[name.strip()] = [*program[words[0]], *words[1:]]
    return commands


def lanes_hold_their_locks(lanes: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND objid = ANY(%s)",
            [[LANE_LOCK + lane for lane in range(lanes)]],
        )
        return cursor.fetchone()[0] == lanes


def children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


def logged(text: str):
    return lambda process, log, port: text in log.read_text(errors="replace")


# Each process's signs of start-up: the moments where a stop used to get lost.
SIGNS = {
    "web": {"answers": lambda process, log, port: reachable("127.0.0.1", port)},
    "worker": {"banner": logged("[queues]"), "ready": logged(" ready.")},
    "timers": {"banner": logged("[queues]"), "ready": logged(" ready.")},
    "chat": {"banner": logged("[queues]"), "ready": logged(" ready.")},
    "alerts": {
        "lanes forked": lambda process, log, port: len(children(process.pid)) == 2,
        "lanes locked": lambda process, log, port: lanes_hold_their_locks(2),
    },
    "beat": {"starting": logged("beat: Starting"), "sending": logged("Sending due task")},
}


@pytest.fixture
def environment(transactional_db, tmp_path):
    need_service("PostgreSQL", connection.vendor == "postgresql")
    need_service("Redis", reachable(*TEST_REDIS))
    import redis

    redis.Redis.from_url(spare_redis_url(REDIS_DB)).flushdb()
    yield os.environ | {
        "DATABASE_URL": running_database_url(),
        "CELERY_BROKER_URL": spare_redis_url(REDIS_DB),
        "HIKESHI_VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": "stop-test",
        "ALERT_PROCESSOR_LANES": "2",
        "ESCALATION_SWEEP_SECONDS": "1",
        "EMAIL_URL": "dummymail://",
        "PYTHONUNBUFFERED": "1",
    }
    redis.Redis.from_url(spare_redis_url(REDIS_DB)).flushdb()


@pytest.mark.faults
@pytest.mark.parametrize("name", ["web", "worker", "timers", "chat", "alerts", "beat"])
def test_one_sigterm_stops_the_process_and_all_it_started_at_any_moment(
    name, environment, tmp_path
):
    port = free_port()
    command = procfile_commands(port)[name]
    moments = [(None, delay) for delay in AFTER_SPAWN]
    moments += [(sign, delay) for sign in SIGNS[name] for delay in AFTER_SIGN]
    still_running = []
    for round_ in range(ROUNDS):
        for sign, delay in moments:
            log = tmp_path / f"{name}-{round_}-{sign}-{delay}.log"
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=environment,
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                if sign is not None:
                    seen = functools.partial(SIGNS[name][sign], process, log, port)
                    assert wait_for(seen, timeout=90, interval=0.002), log.read_text()[-2000:]
                time.sleep(delay)
                process.send_signal(signal.SIGTERM)
                gone = wait_for(
                    lambda process=process: (
                        process.poll() is not None and not session_members(process.pid)
                    ),
                    timeout=STOPPED_WITHIN,
                    interval=0.02,
                )
                if not gone:
                    still_running.append((f"{sign} + {delay}", session_members(process.pid), log))
            finally:
                if process.poll() is None or session_members(process.pid):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert not still_running, [
        f"{name} at {moment}: {pids} still running\n{log.read_text()[-2000:]}"
        for moment, pids, log in still_running
    ]
