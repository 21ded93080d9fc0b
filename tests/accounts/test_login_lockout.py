"""The admin login resists guessing: after 5 failures in a row a user is locked out at that
address (audited), until the lock's time passes or a manager lifts it; sessions end after an
idle time."""

from datetime import timedelta

import pytest
import time_machine
from auditlog.models import LogEntry
from axes.models import AccessAttempt
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

LOGIN = "/admin/login/"
PASSWORD = "correct horse battery"
HOME = "10.0.0.7"


def log_in(client, user, password, address=HOME, language="en"):
    return client.post(
        LOGIN,
        {"username": user.username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
        HTTP_ACCEPT_LANGUAGE=language,
    )


def fail_five_times(client, user, address=HOME):
    for _ in range(5):
        response = log_in(client, user, "wrong guess", address)
    return response


@pytest.fixture
def responder(make_user):
    return make_user("operations")


def test_the_right_password_is_refused_after_five_failures_in_a_row(client, responder):
    for _ in range(4):
        assert log_in(client, responder, "wrong guess").status_code == 200  # the form again
    assert log_in(client, responder, "wrong guess").status_code == 429

    response = log_in(client, responder, PASSWORD)

    assert response.status_code == 429
    assert b"locked" in response.content
    assert b"30 minutes" in response.content
    assert "_auth_user_id" not in client.session


def test_the_lockout_page_speaks_japanese(client, responder):
    fail_five_times(client, responder)

    response = log_in(client, responder, PASSWORD, language="ja")

    assert response.status_code == 429
    assert "ログインがロックされました" in response.content.decode()


def test_a_success_before_the_limit_starts_the_count_again(client, responder):
    for _ in range(4):
        log_in(client, responder, "wrong guess")
    assert log_in(client, responder, PASSWORD).status_code == 302
    client.logout()

    for _ in range(4):
        assert log_in(client, responder, "wrong guess").status_code == 200
    assert log_in(client, responder, PASSWORD).status_code == 302


def test_the_lock_holds_the_user_at_that_address_only(client, responder, make_user):
    fail_five_times(client, responder)

    assert log_in(client, responder, PASSWORD, address="10.0.0.8").status_code == 302
    client.logout()
    other = make_user("operations")
    assert log_in(client, other, PASSWORD).status_code == 302


def test_the_lock_ends_after_its_time(client, responder):
    fail_five_times(client, responder)

    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        assert log_in(client, responder, PASSWORD).status_code == 302


def test_the_lockout_is_audited(client, responder):
    fail_five_times(client, responder)

    attempt = AccessAttempt.objects.get(username=responder.username, ip_address=HOME)
    assert attempt.failures_since_start == 5
    entries = LogEntry.objects.get_for_object(attempt)
    assert entries.filter(action=LogEntry.Action.CREATE).exists()
    assert entries.filter(action=LogEntry.Action.UPDATE).count() == 4
    assert "password" not in str([entry.changes for entry in entries])


def test_a_manager_lifts_the_lock_in_the_admin_and_that_is_audited(client, responder, make_user):
    fail_five_times(client, responder)
    attempt = AccessAttempt.objects.get(username=responder.username)
    manager = make_user("managers")
    client.force_login(manager)

    response = client.post(
        f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"}, REMOTE_ADDR=HOME
    )

    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    deleted = LogEntry.objects.get_for_object(attempt).get(action=LogEntry.Action.DELETE)
    assert deleted.actor == manager
    client.logout()
    assert log_in(client, responder, PASSWORD).status_code == 302


def test_only_managers_see_or_lift_locks(client, responder, make_user):
    fail_five_times(client, responder)
    attempt = AccessAttempt.objects.get(username=responder.username)
    client.force_login(make_user("sysadmins"))

    assert client.get("/admin/axes/accessattempt/").status_code == 403
    assert (
        client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert AccessAttempt.objects.exists()


def test_managers_may_read_login_records_but_not_rewrite_them(make_user):
    manager = make_user("managers")

    assert manager.has_perm("axes.view_accesslog")
    assert manager.has_perm("axes.delete_accessattempt")
    assert not manager.has_perm("axes.change_accessattempt")
    assert not manager.has_perm("axes.delete_accesslog")


def test_requests_renew_a_session_at_most_once_a_minute(client, responder):
    assert log_in(client, responder, PASSWORD).status_code == 302
    start = timezone.now()

    def expiry():
        return Session.objects.get().expire_date

    at_login = expiry()
    with (
        time_machine.travel(start + timedelta(seconds=30)),
        CaptureQueriesContext(connection) as queries,
    ):
        assert client.get("/admin/").status_code == 200
    assert not [q for q in queries if "django_session" in q["sql"] and "UPDATE" in q["sql"]]
    assert expiry() == at_login
    with time_machine.travel(start + timedelta(seconds=61)):
        assert client.get("/admin/").status_code == 200
    assert expiry() - at_login >= timedelta(seconds=60)


def test_a_session_ends_after_eight_idle_hours_and_each_request_renews_it(client, responder):
    assert log_in(client, responder, PASSWORD).status_code == 302
    start = timezone.now()

    with time_machine.travel(start + timedelta(hours=7)):
        assert client.get("/admin/").status_code == 200  # renews the session
    with time_machine.travel(start + timedelta(hours=14)):
        assert client.get("/admin/").status_code == 200
    with time_machine.travel(start + timedelta(hours=22, minutes=1)):
        response = client.get("/admin/")
    assert response.status_code == 302 and LOGIN in response["Location"]
