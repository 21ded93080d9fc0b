"""bench/seed.py, the long history the benchmarks read, on a tiny scale: the tables filled in the
proportions of the full one, and never a database that already holds incidents or a test
database."""

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection, connections

from tests.conftest import need_service
from tests.helpers import running_database_url, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parent.parent


def seed(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "bench/seed.py", *args],
        cwd=ROOT,
        env=os.environ | {"DATABASE_URL": url, "SECRET_KEY": "seed-tests", "DEBUG": "false"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def scratch_url():
    """A database of its own, a copy of the migrated test database (roles, checklists), dropped
    after."""
    need_service("PostgreSQL", connection.vendor == "postgresql")  # the seed is PostgreSQL's
    name = f"hikeshi_seed_check_{os.getpid()}"
    template = connection.settings_dict["NAME"]
    server = running_database_url().rsplit("/", 1)[0]
    connections.close_all()  # a template database must have no one connected
    with psycopg.connect(server.replace("postgres://", "postgresql://") + "/postgres") as admin:
        admin.autocommit = True
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        def created() -> bool:
            try:
                admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            except psycopg.errors.ObjectInUse:
                return False
            return True

        assert wait_for(created, timeout=60, interval=0.5)
        try:
            yield f"{server}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def counts(url: str) -> dict[str, int]:
    tables = {
        "incidents": "incidents_incident",
        "timeline_events": "incidents_timelineevent",
        "alerts": "incidents_alert",
        "notices": "escalation_notice",
        "checklist_runs": "checklists_checklistrun",
    }
    with psycopg.connect(url.replace("postgres://", "postgresql://")) as db:
        found = {
            name: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for name, table in tables.items()
        }
        found["longest_timeline"] = db.execute(
            "SELECT count(*) FROM incidents_timelineevent GROUP BY incident_id"
            " ORDER BY 1 DESC LIMIT 1"
        ).fetchone()[0]
        found["months"] = db.execute(
            "SELECT count(DISTINCT date_trunc('month', detected_at)) FROM incidents_incident"
        ).fetchone()[0]
        found["labelled"] = db.execute(
            "SELECT count(*) FROM incidents_alert WHERE labels ? 'alertname'"
            " AND labels ? 'instance' AND labels ? 'job'"
        ).fetchone()[0]
        found["severities"] = db.execute(
            "SELECT count(DISTINCT severity) FROM incidents_incident"
        ).fetchone()[0]
    return found


def test_a_thousandth_fills_each_table_in_the_full_ones_proportions(scratch_url):
    done = seed(scratch_url, "--scale", "0.001")
    assert done.returncode == 0, done.stderr[-2000:]

    figures = json.loads(done.stdout.strip().splitlines()[-1])
    found = counts(scratch_url)
    assert found.pop("months") >= 20  # two years of them
    assert found == {
        "incidents": 100,
        "timeline_events": 2_000,
        "alerts": 300,
        "notices": 500,
        "checklist_runs": 50,
        "longest_timeline": 5 + 20,  # the long one: its 1/1000 of 5,000, and its own 20
        "labelled": 300,
        "severities": 4,
    }
    assert figures["total_rows"] == 2_950 and figures["total_s"] > 0
    assert figures["big_incident"].startswith("INC-")

    again = seed(scratch_url, "--scale", "0.001")
    assert again.returncode != 0 and "already holds incidents" in again.stderr


def test_it_never_writes_into_the_test_database():
    need_service("PostgreSQL", connection.vendor == "postgresql")
    refused = seed(running_database_url(), "--scale", "0.001", "--force")
    assert refused.returncode != 0 and "is a test database" in refused.stderr
