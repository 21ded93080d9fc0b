"""The outbox under a burst: 10,000 pending e-mail notices at once, delivered to a real SMTP
server on loopback (aiosmtpd, in a process of its own), while P0 notices keep arriving.

The delivery service (`notice_deliver`) run by P processes (2, as the Procfile's worker
`--concurrency=2`), one drain after another in each, as a worker process runs its outbox
tasks; each process has its pool of NOTICE_SMTP_CONNECTIONS connections (`--connections`);
PostgreSQL scratch database `hikeshi_bench_notices`, created and dropped here. The notices are
plain messages (one incident each, P1), not rendered escalation notices. Baseline, same run,
same server: the same messages sent by a bare smtplib loop on one connection. P0 lateness: one
P0 notice written every 100 ms while the burst drains, from its commit to the server's
acceptance. Where the time goes: seconds per stage of the outbox summed over its threads
(the sender threads' "mime" and "smtp" overlap the rest). Peak RSS of each process (VmHWM),
reset after the baseline, so it is the burst's.
Usage: python bench/notices.py [--notices 10000] [--processes 2] [--threads 1] [--connections 4]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, drop_database, emit, free_port, percentile, scratch_database  # noqa: E402

DB_NAME = "hikeshi_bench_notices"


class Recorder:
    """The server's handler: each accepted recipient and when (the system's monotonic clock,
    the same in every process), one line on stdout."""

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 — aiosmtpd's hook
        now = time.monotonic()
        sys.stdout.write("".join(f"{rcpt}\t{now}\n" for rcpt in envelope.rcpt_tos))
        sys.stdout.flush()
        return "250 OK"


def serve(port: int) -> None:
    """The SMTP server's own process, until its stdin closes."""
    from aiosmtpd.controller import Controller

    controller = Controller(Recorder(), hostname="127.0.0.1", port=port)
    controller.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.read()
    controller.stop()


class Server:
    """aiosmtpd in a process of its own; `accepted`: recipient → when the server took it."""

    def __init__(self, port: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout.readline().strip() == "ready"
        self.accepted: dict[str, float] = {}
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            rcpt, at = line.rstrip("\n").split("\t")
            self.accepted[rcpt] = float(at)

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def peak_rss_reset(pid: int | str = "self") -> None:
    """Start the process's high-water mark (VmHWM) anew, where the kernel allows it."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss_mb(pid: int | str = "self") -> float:
    """The process's peak resident size since its start or the last reset (VmHWM)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def deliver(threads: int) -> None:
    """A delivering process, as a worker process of the Procfile's: `threads` drains, one
    after another each, from "go" on stdin until "stop"; then its figures as one JSON line."""
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.db import connection

    from notices.mailpool import pool
    from notices.services import STAGES, notice_deliver

    print("ready", flush=True)
    sys.stdin.readline()
    peak_rss_reset()
    done = threading.Event()
    stages = dict.fromkeys(STAGES, 0.0)
    lock = threading.Lock()

    def drains() -> None:
        timings: dict[str, float] = {}
        while not done.is_set():
            if not notice_deliver(limit=50, timings=timings):
                time.sleep(0.02)
        connection.close()
        with lock:
            for stage, seconds in timings.items():
                stages[stage] += seconds

    running = [threading.Thread(target=drains) for _ in range(threads)]
    for thread in running:
        thread.start()
    sys.stdin.readline()
    done.set()
    for thread in running:
        thread.join()
    pool.close()
    figures = {"stages": stages, "peak_rss_mb": peak_rss_mb(), "opened": pool.opened}
    print(json.dumps(figures), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notices", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="drains per process")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--deliver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.deliver:
        deliver(args.threads)
        return

    url = scratch_database(DB_NAME)
    port = free_port()
    os.environ.update(
        DATABASE_URL=url,
        EMAIL_URL=f"smtp://127.0.0.1:{port}",
        SECRET_KEY="bench",
        DEBUG="false",
        LOG_LEVEL="ERROR",
        NOTICE_SMTP_CONNECTIONS=str(args.connections),
    )
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from incidents.models import Incident
    from notices.emails import notice_message
    from notices.models import Delivery, Notice
    from notices.services import STAGES

    server = Server(port)
    counter = server
    stages = dict.fromkeys(STAGES, 0.0)
    deliverers = [
        subprocess.Popen(
            [sys.executable, __file__, "--deliver", "--threads", str(args.threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(args.processes)
    ]
    try:
        for process in deliverers:
            assert process.stdout.readline().strip() == "ready"
        now = timezone.now()
        incident = Incident.objects.create(
            title="burst", severity="P1", category="system", detected_at=now
        )
        Notice.objects.bulk_create(
            (
                Notice(
                    kind=Notice.Kind.MESSAGE,
                    incident=incident,
                    recipient=f"r{n}@x.test",
                    delivery=Delivery.IMMEDIATE,
                    data={"subject": f"[P1] burst {n}", "text": "本文\n" * 20},
                )
                for n in range(args.notices)
            ),
            batch_size=2000,
        )
        # Baseline: the same messages, built once, on one bare connection.
        messages = [
            notice_message(n).message().as_bytes()
            for n in Notice.objects.order_by("pk")[: args.notices]
        ]
        started = time.monotonic()
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for n, message in enumerate(messages):
                smtp.sendmail("hikeshi@localhost", [f"base{n}@x.test"], message)
        baseline = time.monotonic() - started
        del messages
        while len(counter.accepted) < args.notices:
            time.sleep(0.01)
        counter.accepted.clear()

        p0 = Incident.objects.create(title="p0", severity="P0", category="system", detected_at=now)
        written: dict[str, float] = {}
        done = threading.Event()

        def p0_writer() -> None:
            n = 0
            while not done.is_set():
                address = f"p0-{n}@x.test"
                Notice.objects.create(
                    kind=Notice.Kind.MESSAGE,
                    incident=p0,
                    recipient=address,
                    delivery=Delivery.IMMEDIATE,
                    data={"subject": "[P0]", "text": "本文"},
                )
                written[address] = time.monotonic()
                n += 1
                done.wait(0.1)
            connection.close()

        peak_rss_reset()
        peak_rss_reset(server.process.pid)
        writer = threading.Thread(target=p0_writer)
        deadline = time.monotonic()
        for process in deliverers:
            process.stdin.write("go\n")
            process.stdin.flush()
        writer.start()
        burst = {f"r{n}@x.test" for n in range(args.notices)}
        while not burst <= counter.accepted.keys():
            time.sleep(0.05)
        last = max(counter.accepted[a] for a in burst)
        done.set()
        writer.join()
        rss = {"p0_writer": peak_rss_mb(), "smtp_server": peak_rss_mb(server.process.pid)}
        opened = 0
        for n, process in enumerate(deliverers):
            process.stdin.write("stop\n")
            process.stdin.flush()
            reported = json.loads(process.stdout.readline())
            rss[f"delivery_{n + 1}"] = reported["peak_rss_mb"]
            opened += reported["opened"]
            for stage, seconds in reported["stages"].items():
                stages[stage] += seconds
        lateness = [counter.accepted[a] - t for a, t in written.items() if a in counter.accepted]
        drained = last - deadline
    finally:
        for process in deliverers:
            with contextlib.suppress(OSError):
                process.stdin.close()
            process.wait(timeout=60)
        server.stop()
        connection.close()
        drop_database(DB_NAME)

    figures = {
        "notices": args.notices,
        "processes": args.processes,
        "drains_per_process": args.threads,
        "deadline_to_last_accepted_s": round(drained, 2),
        "messages_per_s": round(args.notices / drained, 1),
        "baseline_smtplib_one_connection_s": round(baseline, 2),
        "baseline_messages_per_s": round(args.notices / baseline, 1),
        "ratio_vs_baseline": round(drained / baseline, 2),
        "p0_notices": len(lateness),
        "p0_lateness_p50_ms": round(percentile(lateness, 50) * 1000, 1),
        "p0_lateness_p99_ms": round(percentile(lateness, 99) * 1000, 1),
        "smtp_connections": args.connections,
        "smtp_sessions_opened": opened,
        "seconds_per_stage": {stage: round(seconds, 2) for stage, seconds in stages.items()},
        "peak_rss_mb": rss,
    }
    emit(figures)


if __name__ == "__main__":
    main()
