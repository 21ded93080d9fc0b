"""Putting failed notices back in the outbox: a manager's action, checked and audited."""

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import PermissionDenied

from notices.models import Notice
from notices.services import notice_retry
from tests.escalation.conftest import make_policy


@pytest.fixture
def failed(declare):
    make_policy("mail", levels=[(1, 0, ["ops@x.test"], "")])
    incident = declare(policy_name="mail")
    Notice.objects.filter(incident=incident).update(status="failed", attempts=5, last_error="550")
    return Notice.objects.get(incident=incident)


def test_a_manager_puts_a_failed_notice_back_and_the_audit_log_says_who(failed, make_user):
    manager = make_user("managers")

    assert notice_retry(notices=Notice.objects.all(), actor=manager) == 1

    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.next_attempt_at) == ("pending", 0, None)
    entry = LogEntry.objects.get_for_object(failed).get()
    assert entry.actor == manager
    assert entry.changes_dict["status"] == ["failed", "pending"]


def test_responders_cannot_put_notices_back_and_nothing_changes(failed, make_user):
    with pytest.raises(PermissionDenied):
        notice_retry(notices=Notice.objects.all(), actor=make_user("sysadmins"))

    failed.refresh_from_db()
    assert failed.status == "failed"
    assert not LogEntry.objects.get_for_object(failed).exists()


def test_the_admin_retries_through_the_service(failed, client, make_user):
    manager = make_user("managers")
    client.force_login(manager)

    client.post("/admin/notices/notice/", {"action": "retry", "_selected_action": [failed.pk]})

    failed.refresh_from_db()
    assert failed.status == "pending"
    assert LogEntry.objects.get_for_object(failed).get().actor == manager
