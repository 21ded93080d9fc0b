"""/api/health against the real processes: the scheduler check follows the timers worker, the
broker check follows Redis."""

import shutil
import subprocess

import pytest

from tests.conftest import need_service
from tests.escalation.conftest import running_worker
from tests.helpers import free_port, reachable, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def health(client) -> tuple[int, dict]:
    response = client.get("/api/health")
    return response.status_code, response.json()


def test_the_scheduler_check_follows_the_timers_worker(
    client, worker_env, smtp, tmp_path, settings
):
    settings.ESCALATION_SWEEP_SECONDS = 1
    env = {"ESCALATION_SWEEP_SECONDS": "1", "PULSE_SECONDS": "1"}

    with running_worker(smtp, tmp_path, **env):
        assert wait_for(lambda: health(client)[1]["checks"]["scheduler"]["status"] == "ok", 60)

    # Stopped: within three sweep intervals of its last sweep the check fails.
    assert wait_for(lambda: "scheduler" in health(client)[1]["failing"], timeout=60)
    assert health(client)[0] == 503

    with running_worker(smtp, tmp_path, **env):
        assert wait_for(lambda: health(client)[1]["checks"]["scheduler"]["status"] == "ok", 60)
        assert "scheduler" not in health(client)[1]["failing"]


def test_the_broker_check_follows_redis(client, settings, tmp_path):
    server = shutil.which("redis-server")
    need_service("redis-server", server is not None)
    port = free_port()
    redis = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    try:
        assert wait_for(lambda: reachable("127.0.0.1", port), timeout=30)
        assert health(client)[1]["checks"]["broker"]["status"] == "ok"
    finally:
        redis.terminate()
        redis.wait(timeout=30)

    assert health(client)[1]["checks"]["broker"]["status"] == "failing"
