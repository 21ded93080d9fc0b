"""Alert ingestion throughput: Alertmanager payloads against gunicorn (2 workers) on PostgreSQL,
with the alert processor (`manage.py process_alerts`, as in the Procfile) running alongside.

16 concurrent clients for 30 s (half new fingerprints, half repeats), then the same load
against the same server's `/api/health/live` (one `SELECT 1`, the framework's limit here), and
the ratio of the two. Then it waits until the processor has applied every accepted alert and
checks the result: one incident per new fingerprint, every repeat counted. With
`--processor after` the processor starts only when the load ends: the intake alone, then the
processing alone. The peak resident size of each server and processor process is read from
the kernel (VmHWM) once every alert is applied, so a process that grows with the backlog shows.
Usage: python bench/ingest.py [--seconds 30] [--clients 16] [--processor after]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    PYTHON,
    ROOT,
    drop_database,
    emit,
    gunicorn_start,
    scratch_database,
    summary_ms,
)

# Its own name per run: a second run on the same machine must not drop this one's database.
DB_NAME = f"hikeshi_bench_ingest_{os.getpid()}"


def alert_body(fingerprint: str) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "status": "firing",
            "receiver": "hikeshi",
            "groupKey": f'{{}}:{{alertname="{fingerprint}"}}',
            "groupLabels": {"alertname": fingerprint},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "truncatedAlerts": 0,
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": fingerprint, "severity": "warning"},
                    "annotations": {"summary": f"ベンチマーク {fingerprint}"},
                    "startsAt": "2026-11-29T00:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus:9090/graph",
                    "fingerprint": fingerprint,
                }
            ],
        }
    ).encode()


def client(port, path, secret, seconds, seed, queue):
    rng = random.Random(seed)
    seen: list[str] = []
    sent = 0
    latencies, errors = [], 0
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path == "/api/health/live":
            method, body = "GET", None
        else:
            repeat = seen and rng.random() < 0.5
            fingerprint = rng.choice(seen) if repeat else uuid.uuid4().hex[:16]
            if not repeat:
                seen.append(fingerprint)
            method, body = "POST", alert_body(fingerprint)
        started = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status != 200:
                errors += 1
                continue
        except OSError:
            errors += 1
            continue
        latencies.append(time.perf_counter() - started)
        sent += body is not None
    queue.put((latencies, errors, len(seen), sent))


def load(port, path, secret, seconds, clients) -> dict:
    queue = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=client, args=(port, path, secret, seconds, n, queue))
        for n in range(clients)
    ]
    started = time.monotonic()
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    elapsed = time.monotonic() - started
    latencies = [x for lat, *_ in results for x in lat]
    return {
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "errors": sum(r[1] for r in results),
        "fingerprints": sum(r[2] for r in results),
        "alerts": sum(r[3] for r in results),
        "ended": time.monotonic(),
        **summary_ms(latencies),
    }


def _descendants(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [p for child in map(int, children) for p in (child, *_descendants(child))]


def peak_rss_mb(process, name: str, child: str) -> dict:
    """The peak resident set size (VmHWM, Linux) of `process` and each process it started."""
    if process is None:
        return {}
    peaks = {}
    for n, pid in enumerate([process.pid, *_descendants(process.pid)]):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue  # not Linux, or gone already
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                label = name if n == 0 else f"{child} {n}"
                peaks[label] = round(int(line.split()[1]) / 1024, 1)
    return peaks


def drained(url: str, timeout: float = 1800) -> float:
    """Waits until no delivery is waiting; returns when that was (monotonic)."""
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        deadline = time.monotonic() + timeout
        while conn.execute("SELECT count(*) FROM integrations_alertdelivery").fetchone()[0]:
            if time.monotonic() > deadline:
                raise SystemExit("the processor did not catch up")
            time.sleep(0.05)
    return time.monotonic()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument(
        "--processor",
        choices=["during", "after", "both"],
        default="both",
        help="run the alert processor during the load (as deployed on one machine), or start "
        "it when the load ends (the intake alone, then the processing alone), or both in turn",
    )
    args = parser.parse_args()
    modes = ["during", "after"] if args.processor == "both" else [args.processor]
    figures = {mode: measure(args, mode) for mode in modes}
    if len(modes) == 1:
        emit(figures[modes[0]])
    else:
        emit({f"{mode}_{name}": value for mode in modes for name, value in figures[mode].items()})


def measure(args, mode: str) -> dict:
    url = scratch_database(DB_NAME)
    env = os.environ | {
        "DATABASE_URL": url,
        "DEBUG": "false",
        "SECRET_KEY": "bench",
        "LOG_LEVEL": "WARNING",
        # The limiter is not what is measured here.
        "INTEGRATION_RATE_LIMIT": "1000000/m",
        # Publishing to a broker is not either; escalation timers live in the database.
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15"),
    }
    secret = subprocess.run(
        [PYTHON, "manage.py", "create_integration", "--kind", "alertmanager", "--name", "bench"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    server, port = gunicorn_start(env, threads=args.threads)

    def start_processor():
        return subprocess.Popen([PYTHON, "manage.py", "process_alerts"], cwd=ROOT, env=env)

    processor = start_processor() if mode == "during" else None
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        load(port, "/api/health/live", None, 2, args.clients)  # warm up both workers
        baseline = load(port, "/api/health/live", None, args.seconds, args.clients)
        started = time.monotonic()
        ingest = load(
            port, "/api/v1/integrations/alertmanager/", secret, args.seconds, args.clients
        )
        if processor is None:
            started = time.monotonic()
            processor = start_processor()
        done = drained(url)
        peaks = peak_rss_mb(server, "gunicorn master", "gunicorn worker")
        peaks |= peak_rss_mb(processor, "processor", "processor lane")
    finally:
        for process in (server, processor):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://")) as conn:
        incidents = conn.execute("SELECT count(*) FROM incidents_incident").fetchone()[0]
        alerts = conn.execute("SELECT count(*) FROM incidents_alert").fetchone()[0]
        received = conn.execute("SELECT sum(times_received) FROM incidents_alert").fetchone()[0]
    drop_database(DB_NAME)
    return {
        "clients": args.clients,
        "gunicorn": f"2 workers x {args.threads} threads",
        "seconds": args.seconds,
        "processor": mode,
        "alerts_per_s": ingest["requests_per_s"],
        "alerts_p50_ms": ingest["p50_ms"],
        "alerts_p99_ms": ingest["p99_ms"],
        "alert_errors": ingest["errors"],
        "new_fingerprints_sent": ingest["fingerprints"],
        "incidents_opened": incidents,
        "alert_rows": alerts,
        "alerts_applied": received,
        "alerts_lost_or_doubled": ingest["alerts"] - (received or 0),
        "all_applied_s_after_load": round(done - ingest["ended"], 1),
        # From the load's start (during) or the processor's start (after) to the last.
        "applied_per_s": round(ingest["alerts"] / (done - started), 1),
        "baseline_health_per_s": baseline["requests_per_s"],
        "baseline_p50_ms": baseline["p50_ms"],
        "baseline_p99_ms": baseline["p99_ms"],
        "ratio_vs_baseline": round(ingest["requests_per_s"] / baseline["requests_per_s"], 3),
        "peak_rss_mb": peaks,
    }


if __name__ == "__main__":
    main()
