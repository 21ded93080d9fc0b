"""The backup job as the README shows it: a shell script that pings with curl, against a
running server (gunicorn as deployed). Each run's start and end reach the heartbeat, and the
last log is the last run's output."""

import os
import shutil
import subprocess
import textwrap

import pytest
from django.db import connection

from heartbeats.models import Heartbeat
from tests.conftest import need_service
from tests.helpers import gunicorn_serving

SCRIPT = textwrap.dedent(
    """\
    set -u
    for run in 1 2 3; do
      curl -fsS -m 10 --retry 5 -o /dev/null "$PING/start"
      if OUTPUT=$(echo "backup run $run: 42 tables dumped" 2>&1); then
        curl -fsS -m 10 --retry 5 -o /dev/null --data-binary "$OUTPUT" "$PING"
      else
        curl -fsS -m 10 --retry 5 -o /dev/null --data-binary "$OUTPUT" "$PING/fail"
      fi
    done
    """
)


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(180)
def test_a_backup_script_pinging_with_curl_updates_the_heartbeat(make_heartbeat):
    need_service("PostgreSQL", connection.vendor == "postgresql")  # shared with the server
    assert shutil.which("curl"), "curl is needed: the README's snippet uses it"
    heartbeat = make_heartbeat("backup-test")
    with gunicorn_serving({"HEARTBEAT_PING_RATE_LIMIT": "100/m"}) as url:
        done = subprocess.run(
            ["sh", "-c", SCRIPT],
            env=os.environ | {"PING": f"{url}/ping/{heartbeat.uuid}"},
            capture_output=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    heartbeat.refresh_from_db()
    assert heartbeat.pings == 6
    assert heartbeat.status == Heartbeat.Status.UP
    assert heartbeat.last_ping_kind == Heartbeat.Kind.SUCCESS
    assert heartbeat.last_log == "backup run 3: 42 tables dumped"
    assert heartbeat.started_at is None
