"""With a real worker: reaching the policy's stop state stops notices; others keep going."""

import pytest

from escalation.models import Escalation
from incidents import services
from tests.escalation.conftest import make_policy
from tests.helpers import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_acknowledge_stops_an_acknowledged_policy_and_resolve_stops_the_default(
    worker, smtp, sysadmin
):
    make_policy(
        "ack", stop_on="acknowledged", levels=[(1, 0, ["a1@x.test"], ""), (2, 2, ["a2@x.test"], "")]
    )
    make_policy("res", levels=[(1, 0, ["r1@x.test"], ""), (2, 2, ["r2@x.test"], "")])
    make_policy("res-b", levels=[(1, 0, ["b1@x.test"], ""), (2, 2, ["b2@x.test"], "")])

    def declare(policy):
        return services.incident_declare(
            actor=sysadmin, title=policy, severity="P1", policy_name=policy
        )

    acked, still_open, resolved = declare("ack"), declare("res"), declare("res-b")
    for incident in (acked, still_open):
        services.incident_transition(incident=incident, action="acknowledge", actor=sysadmin)
    services.incident_transition(incident=resolved, action="resolve", actor=sysadmin)

    # The control: acknowledged is not "resolved", so this one reaches level 2.
    assert wait_for(lambda: smtp.mailbox.to("r2@x.test"), timeout=15)
    wait_for(lambda: False, timeout=1.5)
    assert sorted(smtp.mailbox.addresses()) == ["a1@x.test", "b1@x.test", "r1@x.test", "r2@x.test"]
    assert not Escalation.objects.filter(incident__in=[acked, resolved], level=2).exists()
    acked.refresh_from_db()
    resolved.refresh_from_db()
    assert acked.next_escalation_at is None and resolved.next_escalation_at is None


def test_a_reopened_incident_escalates_again(worker, smtp, sysadmin):
    make_policy("res", levels=[(1, 0, ["r1@x.test"], ""), (2, 2, ["r2@x.test"], "")])
    incident = services.incident_declare(
        actor=sysadmin, title="再発", severity="P1", policy_name="res"
    )
    services.incident_transition(incident=incident, action="resolve", actor=sysadmin)
    wait_for(lambda: False, timeout=2.5)
    assert not smtp.mailbox.to("r2@x.test")

    services.incident_transition(incident=incident, action="reopen", actor=sysadmin)

    assert wait_for(lambda: smtp.mailbox.to("r2@x.test"), timeout=10)
