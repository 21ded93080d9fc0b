"""Small helpers shared by tests: starting servers, waiting on them, bodies to refuse."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The Redis server the process tests publish through: CI's own, or another one (two checkouts
# testing side by side each give theirs) named as host:port.
_host, _port = os.environ.get("TEST_REDIS", "127.0.0.1:6379").rsplit(":", 1)
TEST_REDIS = (_host, int(_port))


def spare_redis_url(db: int) -> str:
    return f"redis://{TEST_REDIS[0]}:{TEST_REDIS[1]}/{db}"


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout=20.0, interval=0.05):
    """Poll until `predicate()` is truthy or the deadline passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    return predicate()


def running_database_url() -> str:
    """The running test database as a URL, for a subprocess or a second psycopg connection."""
    from django.db import connection

    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


# JSON values Python's parser reads and PostgreSQL refuses to store: each is a 400, not a 500.
# Each with a word the refusal must contain.
UNSTORABLE_JSON = [
    pytest.param("NaN", "NaN", id="NaN"),
    pytest.param("-Infinity", "Infinity", id="Infinity"),
    pytest.param("1e999", "out of range", id="a number beyond a double"),
    pytest.param('"a\\u0000b"', "NUL", id="a NUL character"),
    pytest.param('{"\\ud800": 1}', "surrogate", id="a lone surrogate"),
    pytest.param("[" * 100_000 + "]" * 100_000, "nested", id="absurd nesting"),
]


def json_with(body: dict, value: str, name: str = "extra") -> str:
    """`body` as JSON text with one more member whose value is the raw JSON `value`."""
    return json.dumps(body)[:-1] + f', "{name}": {value}}}'


class Receiver:
    """A local HTTP server standing in for a chat's webhook (Slack, Mattermost, Teams, a
    response URL): it records every POST and answers from `script`, then with 200."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[tuple[float, str, dict]] = []
        self.script: list[tuple[int, dict]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 — the standard library's name
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                with receiver.lock:
                    receiver.received.append((time.monotonic(), self.path, body))
                    status, headers = receiver.script.pop(0) if receiver.script else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self) -> list:
        with self.lock:
            return [body for _at, _path, body in self.received]


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    """One request; (status, body, headers), status 0 when nothing answered."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)
    except OSError:
        return 0, b"", {}


@contextmanager
def gunicorn_serving(env: dict, *, threads: int = 4):
    """gunicorn as deployed (config/gunicorn.py, one worker) on the running test database,
    DEBUG off; yields its base URL once it answers."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "config/gunicorn.py",
            "config.wsgi",
            "--workers=1",
            f"--threads={threads}",
            f"--bind=127.0.0.1:{port}",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=os.environ
        | {
            "DEBUG": "false",
            "SECRET_KEY": "served-tests",
            "DATABASE_URL": running_database_url(),
            "CELERY_BROKER_URL": "filesystem://",
            "GUNICORN_ACCESS_LOG": "false",
        }
        | env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: http("GET", f"{url}/api/health/live")[0] == 200, timeout=60)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def session_members(sid: int) -> list[int]:
    """The live (not zombie) processes of a session: the process and all it started."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            members.append(int(entry.name))
    return members


@contextmanager
def terminating_connections(every: float = 0.05):
    """pg_terminate_backend on every other client connection to the test database, again and
    again until the block ends; yields the list of how many each round terminated. This
    process's own connection is kept by its application_name."""
    import threading

    import psycopg
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET application_name = 'pytest-keep'")
    stop, counted = threading.Event(), []

    def terminate() -> None:
        with psycopg.connect(running_database_url(), autocommit=True) as admin:
            while not stop.is_set():
                rows = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND backend_type = 'client backend' AND application_name <> 'pytest-keep'"
                ).fetchall()
                counted.append(len(rows))
                stop.wait(every)

    terminator = threading.Thread(target=terminate)
    terminator.start()
    try:
        yield counted
    finally:
        stop.set()
        terminator.join()


def at_once(*jobs, timeout: float = 120.0) -> list:
    """Run each job in its own thread, all released together at one barrier, each closing its
    database connection; returns their results in order, or raises the first job's error."""
    import threading

    from django.db import connections

    barrier = threading.Barrier(len(jobs))
    results, errors = [None] * len(jobs), []

    def run(index, job) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[index] = job()
        except Exception as error:  # noqa: BLE001 — raised below, in the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a job did not finish"
    if errors:
        raise errors[0]
    return results
