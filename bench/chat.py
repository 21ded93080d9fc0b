"""Slash-command round trip: a signed Slack `/incident` request against gunicorn (2 workers)
on PostgreSQL — signature check, identity lookup, the command, the answer — and, as the
baseline, the same server's `/api/health/live` (one `SELECT 1`) in the same run.

One client, as a person typing: `status INC-n` (a read) and `ack INC-n` (a transition on a
fresh incident each time: lock, timeline, escalation reschedule, audit). Aim: p99 < 300 ms,
well within Slack's 3 s. Usage: python bench/chat.py [--requests 300]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    PYTHON,
    ROOT,
    drop_database,
    emit,
    gunicorn_start,
    round_trips,
    scratch_database,
    summary_ms,
    wait_until_up,
)

DB_NAME = "hikeshi_bench_chat"
SECRET = "bench-signing-secret"
SETUP = """
from django.contrib.auth.models import Group, User
from accounts.models import ChatIdentity
from incidents.services import incident_declare
person = User.objects.create_user("bench", "bench@x.test")
person.groups.add(Group.objects.get(name="sysadmins"))
ChatIdentity.objects.create(user=person, provider="slack", workspace="T1", external_id="U1")
for n in range({count}):
    incident_declare(actor=person, title=f"ベンチマーク {{n}}", severity="P1")
"""


def signed(text: str) -> tuple[bytes, dict]:
    body = urlencode(
        {"team_id": "T1", "user_id": "U1", "command": "/incident", "text": text}
    ).encode()
    timestamp = str(int(time.time()))
    base = b"v0:" + timestamp.encode() + b":" + body
    signature = "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
    }
    return body, headers


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    url = scratch_database(DB_NAME)
    env = os.environ | {
        "DATABASE_URL": url,
        "DEBUG": "false",
        "SECRET_KEY": "bench",
        "LOG_LEVEL": "WARNING",
        "SLACK_SIGNING_SECRETS": SECRET,
        "API_THROTTLE_ANON": "1000000/min",
        # Publishing to a broker is not what is measured; timers live in the database.
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15"),
    }
    subprocess.run(
        [PYTHON, "manage.py", "shell", "-v", "0", "-c", SETUP.format(count=args.requests)],
        cwd=ROOT,
        env=env,
        check=True,
    )
    server, port = gunicorn_start(env)
    try:
        wait_until_up(port)
        health = [("GET", "/api/health/live", None, {}, b'"ok"')] * args.requests
        status = [
            ("POST", "/api/v1/chat/slack/commands", *signed(f"status INC-{n + 1}"), b"P1 \\u2014")
            for n in range(args.requests)
        ]
        acks = [
            ("POST", "/api/v1/chat/slack/commands", *signed(f"ack INC-{n + 1}"), b'"in_channel"')
            for n in range(args.requests)
        ]
        round_trips(port, health[:50] + status[:20])  # warm both workers' connections
        base = summary_ms(round_trips(port, health))
        read = summary_ms(round_trips(port, status))
        write = summary_ms(round_trips(port, acks))
    finally:
        server.terminate()
        server.wait(timeout=30)
        drop_database(DB_NAME)
    emit(
        {
            "requests_each": args.requests,
            "health_p50_ms": base["p50_ms"],
            "health_p99_ms": base["p99_ms"],
            "status_p50_ms": read["p50_ms"],
            "status_p99_ms": read["p99_ms"],
            "ack_p50_ms": write["p50_ms"],
            "ack_p99_ms": write["p99_ms"],
            "ack_p99_vs_health_p99": round(write["p99_ms"] / base["p99_ms"], 1),
            "status_p99_vs_health_p99": round(read["p99_ms"] / base["p99_ms"], 1),
            "aim_p99_ms": 300,
        }
    )


if __name__ == "__main__":
    main()
