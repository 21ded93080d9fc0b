"""Escalation timers at scale: 10,000 deadlines passing at once, the workers plus the sweeper.

PostgreSQL and Redis (a spare database), a scratch database `hikeshi_bench_escalation`
created, migrated and dropped here. Measures the time from the deadline until every
escalation and notice row exists, escalations per second, lateness (fired_at - deadline),
lost and duplicate escalations; beside it the time of a bare bulk UPDATE of the same rows
(the database's limit) and the ratio; then the ETA path's lateness on 50 single incidents
with short delays, while the burst's mail is being delivered and again on an idle system.
The workers run in the Procfile's shape: notices, timers and beat apart.
Usage: python bench/escalation.py [--incidents 10000] [--singles 50]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PYTHON, ROOT, drop_database, emit, percentile, scratch_database  # noqa: E402

DB_NAME = "hikeshi_bench_escalation"
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")


CELERY = [PYTHON, "-m", "celery", "-A", "config"]
QUIET = ["--without-gossip", "--without-mingle", "-l", "WARNING"]


def start_workers(env: dict, tmp: Path) -> list[subprocess.Popen]:
    """The Procfile's shape: a worker for notices, one for timers, and beat."""
    commands = {
        "worker": [*CELERY, "worker", "-Q", "celery", "-c", "2", "-n", "worker@%h", *QUIET],
        "timers": [*CELERY, "worker", "-Q", "timers", "-c", "1", "-n", "timers@%h", *QUIET],
        "beat": [
            *CELERY,
            "beat",
            "-s",
            str(tmp / "beat"),
            "--scheduler",
            "celery.beat:PersistentScheduler",
            "-l",
            "WARNING",
        ],
    }
    return [
        subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=(tmp / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for name, command in commands.items()
    ]


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def singles_lateness(actor, count: int, tag: str) -> tuple[list[float], int]:
    """Declare `count` incidents on the live policy: their level 2 lateness, and how many
    notices were still waiting for delivery when the last one had fired."""
    from escalation.models import Escalation
    from incidents.services import incident_declare
    from notices.models import Notice

    singles = []
    for n in range(count):
        declared = incident_declare(
            actor=actor, title=f"{tag} {n}", severity="P1", policy_name="bench-live"
        )
        singles.append(declared.pk)
        time.sleep(0.05)
    wait_until = time.monotonic() + 60
    while Escalation.objects.filter(incident_id__in=singles, level=2).count() < count:
        assert time.monotonic() < wait_until, "singles did not escalate"
        time.sleep(0.1)
    waiting = Notice.objects.filter(status__in=["pending", "sending"]).count()
    fired = Escalation.objects.filter(incident_id__in=singles, level=2)
    return [e.lateness.total_seconds() for e in fired], waiting


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--singles", type=int, default=50)
    args = parser.parse_args()

    url = scratch_database(DB_NAME)
    env = os.environ | {
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": BROKER,
        "EMAIL_URL": "dummymail://",
        "DEBUG": "false",
        "SECRET_KEY": "bench",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY")})
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.db import connection
    from django.utils import timezone

    from config.celery import app
    from escalation.models import Escalation, EscalationLevel, EscalationPolicy
    from incidents.models import Incident
    from notices.models import Notice

    redis.Redis.from_url(BROKER).flushdb()
    tmp = Path(tempfile.mkdtemp(prefix="bench-escalation-"))
    workers = start_workers(env, tmp)
    figures: dict = {
        "incidents": args.incidents,
        "sweep_seconds": settings.ESCALATION_SWEEP_SECONDS,
    }
    try:
        deadline_wait = time.monotonic() + 60
        while len(app.control.ping(timeout=0.5)) < 2:
            assert time.monotonic() < deadline_wait, (tmp / "timers.log").read_text()
        # 10,000 incidents on the default policy, level 1 done, level 2 due at the same instant.
        policy = EscalationPolicy.objects.get(is_default=True)
        snapshot = policy.snapshot()
        deadline = timezone.now() + timedelta(seconds=8)
        detected = deadline - timedelta(minutes=15)
        Incident.objects.bulk_create(
            [
                Incident(
                    title=f"bench {n}",
                    severity="P1",
                    detected_at=detected,
                    policy=policy,
                    policy_snapshot=snapshot,
                    escalation_level=1,
                    next_escalation_at=deadline,
                )
                for n in range(args.incidents)
            ],
            batch_size=2000,
        )
        ids = list(Incident.objects.values_list("pk", flat=True))
        expected_notices = args.incidents * len(snapshot["levels"][1]["recipients"])
        while timezone.now() < deadline:
            time.sleep(0.01)
        while True:
            done = Escalation.objects.filter(level=2).count()
            notices = Notice.objects.filter(escalation__level=2).count()
            elapsed = (timezone.now() - deadline).total_seconds()
            if (done >= args.incidents and notices >= expected_notices) or elapsed > 120:
                break
            time.sleep(0.05)
        rows = list(Escalation.objects.filter(level=2).values_list("incident_id", "fired_at"))
        lateness = [(fired - deadline).total_seconds() for _i, fired in rows]
        distinct = len({incident for incident, _f in rows})
        figures |= {
            "all_rows_after_deadline_s": round(elapsed, 3),
            "escalations_per_s": round(len(rows) / max(max(lateness) - min(lateness), 1e-6), 1),
            "lateness_p50_s": round(percentile(lateness, 50), 3),
            "lateness_p99_s": round(percentile(lateness, 99), 3),
            "lateness_max_s": round(max(lateness), 3),
            "lost": args.incidents - distinct,
            "duplicates": len(rows)
            - distinct
            + (Notice.objects.filter(escalation__level=2).count() - notices),
            "notices": notices,
        }
        # The database's limit: one bare UPDATE of the same rows (rolled back).
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            started = time.perf_counter()
            cursor.execute(
                "UPDATE incidents_incident SET escalation_level = escalation_level + 1, "
                "next_escalation_at = NULL WHERE id = ANY(%s)",
                [ids],
            )
            bare = time.perf_counter() - started
            cursor.execute("ROLLBACK")
        fire_span = max(lateness) - min(lateness)
        figures |= {
            "bare_update_s": round(bare, 3),
            "fire_span_s": round(fire_span, 3),
            "ratio_fire_span_to_bare_update": round(fire_span / bare, 1),
        }
        Incident.objects.update(next_escalation_at=None)

        # ETA path: single incidents with a short level 2, declared one by one, first while
        # the burst's 10,000 notices are still being delivered, then on an idle system.
        live = EscalationPolicy.objects.create(name="bench-live")
        for number, delay in ((1, 0), (2, 3)):
            EscalationLevel.objects.create(
                policy=live,
                number=number,
                name=f"L{number}",
                delay=timedelta(seconds=delay),
                emails=[f"l{number}@bench.test"],
            )
        actor = User.objects.create_superuser("bench", "bench@bench.test", "bench")
        loaded, waiting = singles_lateness(actor, args.singles, "loaded")
        figures["notices_undelivered_when_loaded_singles_fired"] = waiting
        # Delivery of the burst (dummy backend).
        wait_until = time.monotonic() + 180
        while Notice.objects.filter(status__in=["pending", "sending"]).exists():
            assert time.monotonic() < wait_until, "notices not delivered"
            time.sleep(0.2)
        figures["all_sent_after_deadline_s"] = round((timezone.now() - deadline).total_seconds(), 1)
        idle, _waiting = singles_lateness(actor, args.singles, "idle")
        for name, values in (("loaded", loaded), ("idle", idle)):
            figures |= {
                f"eta_{name}_singles": len(values),
                f"eta_{name}_lateness_p50_s": round(percentile(values, 50), 3),
                f"eta_{name}_lateness_p99_s": round(percentile(values, 99), 3),
                f"eta_{name}_lateness_max_s": round(max(values), 3),
            }
    finally:
        stop(workers)
        connection.close()
        redis.Redis.from_url(BROKER).flushdb()
        drop_database(DB_NAME)
    emit(figures)


if __name__ == "__main__":
    main()
