"""Shared helpers for the benchmarks: a scratch PostgreSQL database, percentiles, output."""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ADMIN_URL = os.environ.get(
    "BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)


def scratch_database(name: str) -> str:
    """Create (or recreate) an empty PostgreSQL database and migrate it; returns its URL."""
    import psycopg

    with psycopg.connect(ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    env = os.environ | {"DATABASE_URL": url, "DEBUG": "false", "SECRET_KEY": "bench"}
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [PYTHON, "manage.py", "load_runbook_defaults"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return url


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_start(env: dict, *, threads: int = 4) -> tuple[subprocess.Popen, int]:
    """The web as deployed on 2 cores: gunicorn, 2 workers; returns it and its port."""
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(PYTHON).parent / "gunicorn"),
            "config.wsgi",
            "--workers",
            "2",
            # Requests mostly wait on PostgreSQL; threads let one worker overlap those waits.
            "--threads",
            str(threads),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    return server, port


def round_trips(port: int, requests: list[tuple], statuses=(200,)) -> list[float]:
    """Each request's time to its answer; stops at an answer without `expected` in it."""
    latencies = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for method, path, body, headers, expected in requests:
        started = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        if response.status not in statuses or expected not in payload:
            raise SystemExit(f"{path}: {response.status} {payload[:300]!r}")
        latencies.append(time.perf_counter() - started)
    conn.close()
    return latencies


def wait_until_up(port: int, timeout: float = 60) -> None:
    """Until the server answers its liveness probe (it takes a moment to start)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            round_trips(port, [("GET", "/api/health/live", None, {}, b"ok")])
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: list[float]) -> dict:
    return {
        "p50_ms": round(percentile(values, 50) * 1000, 2),
        "p99_ms": round(percentile(values, 99) * 1000, 2),
        "mean_ms": round(statistics.fmean(values) * 1000, 2) if values else None,
    }


def emit(figures: dict) -> None:
    """Human lines first, then the figures as one JSON object on the last line."""
    for key, value in figures.items():
        print(f"{key}: {value}")
    print(json.dumps(figures, sort_keys=True))
