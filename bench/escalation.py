"""Escalation timers at scale: 10,000 deadlines passing at once, one worker plus the sweeper.

PostgreSQL and Redis (a spare database), a scratch database `hikeshi_bench_escalation`
created, migrated and dropped here. Measures the time from the deadline until every
escalation and notice row exists, escalations per second, lateness (fired_at - deadline),
lost and duplicate escalations; beside it the time of a bare bulk UPDATE of the same rows
(the database's limit) and the ratio; then the ETA path's lateness on 50 single incidents
with short delays. Usage: python bench/escalation.py [--incidents 10000] [--singles 50]
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


def start_worker(env: dict, tmp: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-B",
            "-Q",
            "celery,timers",
            "-s",
            str(tmp / "beat"),
            "--scheduler",
            "celery.beat:PersistentScheduler",
            "-c",
            "2",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=(tmp / "worker.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


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
    from escalation.models import Escalation, EscalationLevel, EscalationPolicy, Notice
    from incidents.models import Incident
    from incidents.services import incident_declare

    redis.Redis.from_url(BROKER).flushdb()
    tmp = Path(tempfile.mkdtemp(prefix="bench-escalation-"))
    worker = start_worker(env, tmp)
    figures: dict = {
        "incidents": args.incidents,
        "sweep_seconds": settings.ESCALATION_SWEEP_SECONDS,
    }
    try:
        deadline_wait = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            assert time.monotonic() < deadline_wait, (tmp / "worker.log").read_text()
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
        # Delivery of the burst (dummy backend): until then the pool is busy sending.
        wait_until = time.monotonic() + 180
        while Notice.objects.filter(status__in=["pending", "sending"]).exists():
            assert time.monotonic() < wait_until, "notices not delivered"
            time.sleep(0.2)
        figures["all_sent_after_deadline_s"] = round((timezone.now() - deadline).total_seconds(), 1)

        # ETA path: single incidents with a short level 2, declared one by one.
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
        singles = []
        for n in range(args.singles):
            singles.append(
                incident_declare(
                    actor=actor, title=f"single {n}", severity="P1", extra={"policy": "bench-live"}
                ).pk
            )
            time.sleep(0.05)
        wait_until = time.monotonic() + 30
        while Escalation.objects.filter(incident_id__in=singles, level=2).count() < args.singles:
            assert time.monotonic() < wait_until, "singles did not escalate"
            time.sleep(0.1)
        eta = [
            e.lateness.total_seconds()
            for e in Escalation.objects.filter(incident_id__in=singles, level=2)
        ]
        figures |= {
            "eta_singles": len(eta),
            "eta_lateness_p50_s": round(percentile(eta, 50), 3),
            "eta_lateness_p99_s": round(percentile(eta, 99), 3),
            "eta_lateness_max_s": round(max(eta), 3),
        }
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        connection.close()
        redis.Redis.from_url(BROKER).flushdb()
        drop_database(DB_NAME)
    emit(figures)


if __name__ == "__main__":
    main()
