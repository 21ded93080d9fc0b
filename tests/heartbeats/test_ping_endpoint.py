"""`/ping/<uuid>`, `/ping/<uuid>/start`, `/ping/<uuid>/fail`: no login (the uuid is the
secret), JSON whatever happens, never a 500, and a refusal writes nothing."""

import uuid

import pytest
from django.core.cache import cache
from django.forms.models import model_to_dict

from heartbeats.models import Heartbeat
from incidents.models import Incident
from tests.heartbeats.conftest import incidents_of


@pytest.fixture
def heartbeat(make_heartbeat):
    return make_heartbeat()


@pytest.fixture(autouse=True)
def _fresh_rate_counts():
    cache.clear()


def state() -> list:
    return [
        model_to_dict(h, fields=["status", "deadline", "last_ping_at", "last_log", "pings"])
        for h in Heartbeat.objects.order_by("pk")
    ] + [Incident.objects.count()]


def test_a_get_ping_records_success(client, heartbeat):
    response = client.get(f"/ping/{heartbeat.uuid}")
    assert response.status_code == 200
    assert response.json() == {
        "heartbeat": "nightly",
        "kind": "success",
        "status": "up",
        "log_truncated": False,
    }
    heartbeat.refresh_from_db()
    assert (heartbeat.status, heartbeat.last_ping_kind, heartbeat.pings) == ("up", "success", 1)
    assert heartbeat.last_ping_at is not None


@pytest.mark.parametrize("suffix", ["", "/", "/start", "/start/", "/fail", "/fail/"])
def test_every_ping_url_answers_head_get_and_post(client, heartbeat, suffix):
    for method in ("head", "get", "post"):
        assert getattr(client, method)(f"/ping/{heartbeat.uuid}{suffix}").status_code == 200
    heartbeat.refresh_from_db()
    assert heartbeat.pings == 3


def test_a_fail_ping_opens_an_incident_and_keeps_the_log(client, heartbeat):
    response = client.post(
        f"/ping/{heartbeat.uuid}/fail", b"pg_dump: out of disk", content_type="text/plain"
    )
    assert response.status_code == 200
    heartbeat.refresh_from_db()
    assert heartbeat.status == "down"
    assert heartbeat.last_log == "pg_dump: out of disk"
    assert incidents_of(heartbeat).count() == 1


def test_a_start_ping_marks_the_run_started(client, heartbeat):
    client.post(f"/ping/{heartbeat.uuid}/start")
    heartbeat.refresh_from_db()
    assert heartbeat.started_at is not None
    assert heartbeat.last_ping_kind == "start"


@pytest.mark.parametrize(
    "path",
    [
        f"/ping/{uuid.uuid4()}",
        f"/ping/{uuid.uuid4()}/fail",
        "/ping/not-a-uuid",
        "/ping/%00",
        "/ping/" + "9" * 5000,
        "/ping/12345678-1234-5678-1234-567812345678/retry",
    ],
)
def test_an_unknown_uuid_is_a_json_404_and_writes_nothing(client, heartbeat, path):
    before = state()
    response = client.post(path, b"log", content_type="text/plain")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"error", "detail", "fields"}
    assert state() == before


def test_pings_over_the_rate_are_429_and_write_nothing(client, heartbeat, settings):
    settings.HEARTBEAT_PING_RATE_LIMIT = "2/m"
    assert client.get(f"/ping/{heartbeat.uuid}").status_code == 200
    assert client.get(f"/ping/{heartbeat.uuid}/start").status_code == 200
    before = state()
    response = client.post(f"/ping/{heartbeat.uuid}/fail", b"x", content_type="text/plain")
    assert response.status_code == 429
    assert response.json()["error"] == "throttled"
    assert int(response["Retry-After"]) >= 1
    assert state() == before


def test_the_rate_is_counted_per_heartbeat(client, heartbeat, make_heartbeat, settings):
    settings.HEARTBEAT_PING_RATE_LIMIT = "1/m"
    other = make_heartbeat("other")
    assert client.get(f"/ping/{heartbeat.uuid}").status_code == 200
    assert client.get(f"/ping/{heartbeat.uuid}").status_code == 429
    assert client.get(f"/ping/{other.uuid}").status_code == 200


def test_a_body_up_to_the_limit_is_kept_whole(client, heartbeat, settings):
    body = "バックアップ完了\n".encode() * 10
    client.post(f"/ping/{heartbeat.uuid}", body, content_type="text/plain")
    heartbeat.refresh_from_db()
    assert heartbeat.last_log == body.decode()
    assert heartbeat.last_log_truncated is False


def test_a_body_over_the_limit_is_cut_and_the_ping_still_counts(client, heartbeat, settings):
    settings.HEARTBEAT_LOG_BYTES = 10 * 1024
    response = client.post(
        f"/ping/{heartbeat.uuid}", b"a" * (3 * 1024 * 1024), content_type="text/plain"
    )
    assert response.status_code == 200
    assert response.json()["log_truncated"] is True
    heartbeat.refresh_from_db()
    assert heartbeat.last_log == "a" * 10 * 1024
    assert heartbeat.last_log_truncated is True
    assert heartbeat.status == "up"


def test_binary_and_nul_bytes_are_kept_as_replacement_characters(client, heartbeat):
    response = client.post(
        f"/ping/{heartbeat.uuid}", b"ok\x00\xff\xfe end", content_type="application/octet-stream"
    )
    assert response.status_code == 200
    heartbeat.refresh_from_db()
    assert heartbeat.last_log == "ok\ufffd\ufffd\ufffd end"


@pytest.mark.parametrize("method", ["put", "delete", "patch", "options"])
def test_another_method_is_a_json_405_and_writes_nothing(client, heartbeat, method):
    before = state()
    response = getattr(client, method)(f"/ping/{heartbeat.uuid}")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert state() == before


def test_a_ping_needs_no_login_and_ignores_credentials(client, heartbeat):
    response = client.get(f"/ping/{heartbeat.uuid}", HTTP_AUTHORIZATION="Token nonsense")
    assert response.status_code == 200
