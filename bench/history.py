"""History at size: the pages people read on a long history, seeded by `bench/seed.py`
(100,000 incidents over two years, 2,000,000 timeline events, one incident with 5,000).

Against gunicorn (2 workers) on PostgreSQL, one client, a manager (token for the API, session
for the admin), p50 / p95 of each against `/api/health/live` (one `SELECT 1`) in the same run:

- the incident list API: first page, filtered, a page deep into the list by number
  (`?page=`), and by key (`?cursor=`);
- the admin incident list (first page, and deep);
- search (`q`): by alert label, by title words, by key; the admin's search;
- the incident with 5,000 timeline events: its admin page, its API answer, its timeline page;
- its postmortem (Markdown) and its generated report;
- and, in a Django process, the monthly report for the busiest month (charts included).

With each, the queries one request makes (counted with Django's test client on the same data).
Usage: python bench/history.py [--scale 1] [--requests 30] [--keep] [--database-url URL]
(`--database-url`: a database seeded before, measured as it is.)
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

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

DB_NAME = "hikeshi_bench_history"

SETUP = """
import json
from django.contrib.auth.models import Group, User
from django.db.models import Count
from django.db.models.functions import TruncMonth
from django.test import Client
from knox.models import AuthToken
from config.base import JST
from incidents.models import Incident
manager, _ = User.objects.get_or_create(username="bench-history", defaults={"is_staff": True})
manager.groups.add(Group.objects.get(name="managers"))
client = Client(SERVER_NAME="127.0.0.1")
client.force_login(manager)
big = Incident.objects.annotate(n=Count("timeline")).order_by("-n").values_list("pk", flat=True)[0]
busiest = (
    Incident.objects.annotate(month=TruncMonth("detected_at", tzinfo=JST)).values("month")
    .annotate(n=Count("pk")).order_by("-n").values_list("month", "n")[0]
)
deep = Incident.objects.order_by("-detected_at", "-pk").values_list("detected_at", flat=True)[
    Incident.objects.count() * 95 // 100]
print(json.dumps({
    "session": client.cookies["sessionid"].value,
    "token": AuthToken.objects.create(user=manager, expiry=None)[1],
    "big": big, "busiest": busiest[0].strftime("%Y-%m"), "busiest_incidents": busiest[1],
    "deep_position": deep.isoformat(), "incidents": Incident.objects.count(),
}))
"""

COUNT_QUERIES = """
import json
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
client = Client(SERVER_NAME="127.0.0.1")
client.force_login(User.objects.get(username="bench-history"))
found = {}
for name, path in PATHS:
    client.get(path)
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(path)
    assert answer.status_code == 200, (path, answer.status_code)
    found[name] = len(queries)
print(json.dumps(found))
"""

MONTHLY = """
import json, time
from django.db import connection
from django.test.utils import CaptureQueriesContext
from ops.reports import Month, ops_report_write
month = Month.parse(MONTH)
times = []
for _ in range(ROUNDS):
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        ops_report_write(month=month)
    times.append(time.perf_counter() - started)
print(json.dumps({"times": times, "queries": len(queries)}))
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


def cursor_at(position: str) -> str:
    """A `?cursor=` as the list hands out, pointing at a row deep in the list."""
    return base64.b64encode(urlencode({"p": position}).encode()).decode()


def summary(values: list[float]) -> dict:
    return {
        "p50_ms": round(percentile(values, 50) * 1000, 1),
        "p95_ms": round(percentile(values, 95) * 1000, 1),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the database to look into")
    parser.add_argument("--database-url", help="measure this seeded database as it is")
    args = parser.parse_args()
    env = os.environ | {
        "DEBUG": "false",
        "SECRET_KEY": "bench",
        "LOG_LEVEL": "WARNING",
        "STATIC_MANIFEST": "false",
        "OPS_REPORT_DIR": "/tmp/hikeshi-bench-history-reports",  # noqa: S108 (scratch output)
        "POSTMORTEM_DIR": "/tmp/hikeshi-bench-history-postmortems",  # noqa: S108
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15"),
    }
    seed: dict = {}
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    else:
        env["DATABASE_URL"] = scratch_database(DB_NAME)
        seeded = subprocess.run(
            [PYTHON, "bench/seed.py", "--scale", str(args.scale)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if seeded.returncode:
            raise SystemExit(seeded.stderr[-2000:])
        seed = json.loads(seeded.stdout.strip().splitlines()[-1])
    try:
        figures = measure(env, args, seed)
    finally:
        if not args.keep and not args.database_url:
            drop_database(DB_NAME)
    emit(figures)


def measure(env: dict, args, seed: dict) -> dict:
    made = manage_shell(env, SETUP)
    big = made["big"]
    deep_page = made["incidents"] * 95 // 100 // 50
    cursor = cursor_at(made["deep_position"])
    api = "/api/v1/incidents/"
    pages = {
        "list": f"{api}",
        "list_filtered": f"{api}?state=closed&severity=P1&severity=P0&ordering=-detected_at",
        "list_deep_page": f"{api}?page={deep_page}",
        "list_deep_cursor": f"{api}?cursor={cursor}",
        "admin_list": "/admin/incidents/incident/",
        "admin_list_deep": f"/admin/incidents/incident/?p={deep_page}",  # 50 a page, as the API
        "search_label": f"{api}?q=HighCPU",
        "search_title": f"{api}?q=connection%20failures",
        "search_key": f"{api}?q=INC-{big}",
        "admin_search": "/admin/incidents/incident/?q=HighCPU",
        "big_admin": f"/admin/incidents/incident/{big}/change/",
        "big_api": f"{api}INC-{big}/",
        "big_timeline_api": f"{api}INC-{big}/timeline/?page=50",
        "big_postmortem": f"{api}INC-{big}/postmortem/",
    }
    code = f"PATHS = {list(pages.items())!r}\n" + COUNT_QUERIES
    queries = manage_shell(env, code)
    monthly = manage_shell(env, f"MONTH = {made['busiest']!r}\nROUNDS = 3\n" + MONTHLY)
    server, port = gunicorn_start(env)
    token = {"Authorization": f"Token {made['token']}"}
    session = {"Cookie": f"sessionid={made['session']}"}
    results = {}
    try:
        wait_until_up(port)
        n = args.requests
        health = [("GET", "/api/health/live", None, {}, b'"ok"')] * n
        round_trips(port, health[:50])
        results["health"] = summary(round_trips(port, health))
        for name, path in pages.items():
            headers = session if name.startswith("admin") or name == "big_admin" else token
            requests = [("GET", path, None, headers, b"")] * n
            round_trips(port, requests[:2])  # warm both workers
            results[name] = summary(round_trips(port, requests))
        generate = [
            ("POST", f"/api/v1/incidents/INC-{big}/postmortem/generate/", b"", token, b"path")
        ] * max(5, n // 3)
        results["big_postmortem_generate"] = summary(round_trips(port, generate))
        queries["big_postmortem_generate"] = None
    finally:
        server.terminate()
        server.wait(timeout=30)
    base = results["health"]["p95_ms"]
    figures = {
        "incidents": made["incidents"],
        "big_incident": f"INC-{big}",
        "busiest_month": made["busiest"],
        "busiest_month_incidents": made["busiest_incidents"],
        "requests_each": args.requests,
        "seed_total_s": seed.get("total_s"),
        "health_p50_ms": results["health"]["p50_ms"],
        "health_p95_ms": base,
    }
    for name, figure in results.items():
        if name == "health":
            continue
        figures[f"{name}_p50_ms"] = figure["p50_ms"]
        figures[f"{name}_p95_ms"] = figure["p95_ms"]
        figures[f"{name}_p95_vs_health_p95"] = round(figure["p95_ms"] / base, 1)
        if queries.get(name) is not None:
            figures[f"{name}_queries"] = queries[name]
    figures["monthly_report_p50_ms"] = round(percentile(monthly["times"], 50) * 1000, 1)
    figures["monthly_report_queries"] = monthly["queries"]
    return figures


if __name__ == "__main__":
    main()
