"""The dashboards on a long history: 100,000 incidents over two years (the generator is part
of the benchmark), ~300 of them active, with their alerts, escalations and notices. Against
gunicorn (2 workers) on PostgreSQL, one client, a logged-in responder:

- the board (`/ops/monitoring`) and analytics over the default 12 JST weeks
  (`/ops/analytics`), p50 / p95, against `/api/health/live` (one `SELECT 1`) in the same run;
- `/api/health` with every check (no worker runs here: it answers 503, as fast);
- the queries each page makes with 1,000 incidents and with 100,000: the same number.

Aim: board p95 ≤ 150 ms, analytics p95 ≤ 500 ms.
Usage: python bench/ops.py [--incidents 100000] [--requests 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    PYTHON,
    ROOT,
    drop_database,
    emit,
    gunicorn_start,
    percentile,
    round_trips,
    scratch_database,
    wait_until_up,
)

DB_NAME = "hikeshi_bench_ops"
ACTIVE = 300

SETUP = """
import json
from django.contrib.auth.models import Group, User
from django.test import Client
from integrations.services import integration_create
manager = User.objects.create_user("bench-manager", is_staff=True)
manager.groups.add(Group.objects.get(name="managers"))
integration, _ = integration_create(name="alertmanager", kind="alertmanager", actor=manager)
responder = User.objects.create_user("bench", is_staff=True)
responder.groups.add(Group.objects.get(name="sysadmins"))
client = Client(SERVER_NAME="127.0.0.1")
client.force_login(responder)
print(json.dumps({"session": client.cookies["sessionid"].value, "integration": integration.pk}))
"""

COUNT_QUERIES = """
import json
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
client = Client(SERVER_NAME="127.0.0.1")
client.force_login(User.objects.get(username="bench"))
found = {}
for name, path in (("board", "/ops/monitoring"), ("analytics", "/ops/analytics")):
    client.get(path)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    found[name] = len(queries)
print(json.dumps(found))
"""

# Incidents spread over two years, closed but for the newest ACTIVE; an alert for most, an
# escalation with two notices for those that went past level 1.
GENERATE = """
INSERT INTO incidents_incident (
    title, summary, impact, service, category, severity, state, root_cause, resolution,
    dismiss_reason, detected_at, acknowledged_at, resolved_at, closed_at, created_at,
    updated_at, escalation_level, next_escalation_at, policy_snapshot)
SELECT
    'ベンチマーク障害 ' || n, '', '', (ARRAY['api', 'web', 'db', 'batch'])[1 + n % 4],
    (ARRAY['system', 'security', 'data', 'performance', 'external'])[1 + n % 5],
    (ARRAY['P0', 'P1', 'P1', 'P2', 'P2', 'P2', 'P3', 'P3'])[1 + n % 8],
    CASE WHEN active THEN (ARRAY['detected', 'triage', 'investigating', 'recovering'])[1 + n % 4]
         ELSE 'closed' END,
    '', '', '', detected, detected + ack, CASE WHEN active THEN NULL ELSE detected + ack * 6 END,
    CASE WHEN active THEN NULL ELSE detected + ack * 7 END, detected, detected,
    1 + n % 4, CASE WHEN active THEN now() + interval '10 minutes' ELSE NULL END, '{{}}'
FROM (
    SELECT n, n > {total} - {active} AS active,
           now() - interval '730 days' * (1 - n::float / {total}) AS detected,
           interval '1 minute' * (1 + (n * 7919) % 40) AS ack
    FROM generate_series({first}, {total}) AS n
) AS made;

INSERT INTO incidents_alert (
    fingerprint, status, summary, source, severity, labels, annotations, links, raw,
    first_received_at, last_received_at, times_received, incident_id, integration_id)
SELECT 'fp-' || id, CASE WHEN state = 'closed' THEN 'resolved' ELSE 'firing' END, title, '',
       severity, jsonb_build_object('alertname', (ARRAY['HighCpuUsage', 'HighMemoryUsage',
       'HighDiskUsage', 'SlowApiResponses', 'HighErrorRate', 'TooManyConnections'])[1 + id % 6]),
       '{{}}', '[]', '{{}}', detected_at, detected_at, 1 + id % 17, id, {integration}
FROM incidents_incident WHERE id >= {first} AND id % 5 <> 0;

INSERT INTO escalation_escalation (
    level, name, deadline, fired_at, reason, note, severity, delivery, recipients, incident_id)
SELECT 2, 'L2', detected_at + interval '15 minutes', detected_at + interval '15 minutes',
       'timer', '', severity, 'email', '[]', id
FROM incidents_incident WHERE id >= {first} AND escalation_level >= 2;

INSERT INTO escalation_notice (
    kind, recipient, recipient_name, language, channel, delivery, status, attempts, last_error,
    sent_at, created_at, data, escalation_id, incident_id)
SELECT 'notice', 'oncall' || r || '@example.test', '', 'ja', 'email', 'email', 'sent', 1, '',
       e.deadline + interval '1 second' * (1 + (e.id * r) % 9), e.deadline, '{{}}', e.id,
       e.incident_id
FROM escalation_escalation e CROSS JOIN generate_series(1, 2) AS r
WHERE e.incident_id >= {first};
ANALYZE;
"""


def manage_shell(env: dict, code: str) -> dict:
    done = subprocess.run(
        [PYTHON, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def generate(url: str, *, first: int, total: int, active: int, integration: int) -> float:
    import psycopg

    started = time.perf_counter()
    sql = GENERATE.format(first=first, total=total, active=active, integration=integration)
    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as c:
        c.execute(sql)
    return time.perf_counter() - started


def summary(values: list[float]) -> dict:
    return {
        "p50_ms": round(percentile(values, 50) * 1000, 1),
        "p95_ms": round(percentile(values, 95) * 1000, 1),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the database to look into")
    args = parser.parse_args()
    url = scratch_database(DB_NAME)
    env = os.environ | {
        "DATABASE_URL": url,
        "DEBUG": "false",
        "SECRET_KEY": "bench",
        "LOG_LEVEL": "WARNING",
        "STATIC_MANIFEST": "false",  # no collected files needed: the pages are measured
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15"),
    }
    made = manage_shell(env, SETUP)
    small = min(1_000, args.incidents)
    generate(url, first=1, total=small, active=0, integration=made["integration"])
    queries_small = manage_shell(env, COUNT_QUERIES)
    generated_s = generate(
        url,
        first=small + 1,
        total=args.incidents,
        active=ACTIVE,
        integration=made["integration"],
    )
    queries_large = manage_shell(env, COUNT_QUERIES)
    server, port = gunicorn_start(env)
    cookie = {"Cookie": f"sessionid={made['session']}"}
    try:
        wait_until_up(port)
        health = [("GET", "/api/health/live", None, {}, b'"ok"')] * args.requests
        board = [("GET", "/ops/monitoring", None, cookie, b'id="board"')] * args.requests
        analytics = [("GET", "/ops/analytics", None, cookie, b"data-chart")] * args.requests
        checks = [("GET", "/api/health", None, {}, b'"checks"')] * args.requests
        round_trips(port, health[:50] + board[:10] + analytics[:5])  # warm both workers
        base = summary(round_trips(port, health))
        board_figures = summary(round_trips(port, board))
        analytics_figures = summary(round_trips(port, analytics))
        checks_figures = summary(round_trips(port, checks, statuses=(200, 503)))
    finally:
        server.terminate()
        server.wait(timeout=30)
        if not args.keep:
            drop_database(DB_NAME)
    emit(
        {
            "incidents": args.incidents,
            "active": ACTIVE,
            "generated_s": round(generated_s, 1),
            "requests_each": args.requests,
            "health_p50_ms": base["p50_ms"],
            "health_p95_ms": base["p95_ms"],
            "board_p50_ms": board_figures["p50_ms"],
            "board_p95_ms": board_figures["p95_ms"],
            "analytics_p50_ms": analytics_figures["p50_ms"],
            "analytics_p95_ms": analytics_figures["p95_ms"],
            "health_checks_p50_ms": checks_figures["p50_ms"],
            "health_checks_p95_ms": checks_figures["p95_ms"],
            "board_p95_vs_health_p95": round(board_figures["p95_ms"] / base["p95_ms"], 1),
            "analytics_p95_vs_health_p95": round(analytics_figures["p95_ms"] / base["p95_ms"], 1),
            "board_queries_1k": queries_small["board"],
            "board_queries_100k": queries_large["board"],
            "analytics_queries_1k": queries_small["analytics"],
            "analytics_queries_100k": queries_large["analytics"],
            "aim_board_p95_ms": 150,
            "aim_analytics_p95_ms": 500,
            "aim_health_checks_ms": 50,
        }
    )


if __name__ == "__main__":
    main()
