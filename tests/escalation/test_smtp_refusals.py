"""A mail server that answers but refuses (a 4xx "try later" or a 5xx policy refusal) for a
while, then accepts, with a real worker sending: each notice waits pending, is tried again with
backoff, and goes out once."""

import pytest

from notices.models import Notice
from tests.escalation.conftest import make_policy, running_worker
from tests.helpers import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.faults, pytest.mark.django_db(transaction=True)]

REFUSED_TIMES = 2  # under NOTICE_MAX_ATTEMPTS: refused twice, accepted the third time


@pytest.mark.parametrize(
    "reply", ["451 4.7.1 Greylisted, try again later", "550 5.7.1 Temporarily rate limited"]
)
def test_notices_refused_then_accepted_wait_pending_and_go_out_once(
    worker_env, smtp, tmp_path, declare, reply
):
    make_policy("mail", levels=[(1, 0, ["ops@x.test", "dev@x.test"], "")])
    smtp.mailbox.refusing = reply
    retry_each_second = {"NOTICE_RETRY_BASE_SECONDS": "1", "NOTICE_RETRY_MAX_SECONDS": "1"}
    with running_worker(smtp, tmp_path, **retry_each_second):
        incident = declare(policy_name="mail")
        notices = Notice.objects.filter(incident=incident)

        def refused_twice() -> bool:
            return notices.count() == 2 and all(n.attempts >= REFUSED_TIMES for n in notices.all())

        refused = wait_for(refused_twice, timeout=60)
        assert refused, list(notices.values("status", "attempts", "last_error"))
        # Waiting between tries (or in one, refused again): neither sent nor given up on.
        assert {n.status for n in notices.all()} <= {"pending", "sending"}
        assert all(reply.split()[0] in n.last_error for n in notices.all())
        assert smtp.mailbox.received == []

        smtp.mailbox.refusing = None
        assert wait_for(lambda: {n.status for n in notices.all()} == {"sent"}, timeout=60)
        wait_for(lambda: False, timeout=2)  # time for a second sending, if there were one

    assert sorted(smtp.mailbox.addresses()) == ["dev@x.test", "ops@x.test"]
    assert incident.timeline.filter(kind="notice_sent").count() == 2
    assert not incident.timeline.filter(kind="notice_failed").exists()
