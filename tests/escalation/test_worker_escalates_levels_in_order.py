"""A real worker (and its beat) on Redis, a real SMTP server: levels fire in order, once each."""

import pytest

from escalation.models import Escalation
from incidents import services
from tests.escalation.conftest import key_of, make_policy
from tests.helpers import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_levels_one_to_four_reach_exactly_their_recipients_once_in_order(worker, smtp, sysadmin):
    make_policy(
        "live",
        levels=[
            (1, 0, ["ops@example.test"], ""),
            (2, 2, ["dev@example.test"], ""),
            (3, 4, ["admin@example.test"], ""),
            (4, 4, ["exec@example.test"], "P0"),
        ],
    )
    p0 = services.incident_declare(
        actor=sysadmin, title="全システム停止", severity="P0", policy_name="live"
    )
    p1 = services.incident_declare(
        actor=sysadmin, title="決済APIの応答遅延", severity="P1", policy_name="live"
    )

    mailbox = smtp.mailbox
    # P0: four levels, P1: three; 7 messages in all.
    assert wait_for(lambda: len(mailbox.received) >= 7, timeout=30), mailbox.addresses()
    received = {(key_of(m), rcpt): t for rcpt, m, t in mailbox.received}
    for key in (p0.key, p1.key):
        times = [received[(key, f"{who}@example.test")] for who in ("ops", "dev", "admin")]
        assert times == sorted(times)
    # Level 4 shares level 3's deadline (P0 "when level 3 is reached"): after level 2.
    assert received[(p0.key, "dev@example.test")] < received[(p0.key, "exec@example.test")]

    assert Escalation.objects.filter(incident=p1, level=3).exists()
    # Margin after P1's level 3 for a wrong level 4 or a duplicate to show up.
    wait_for(lambda: False, timeout=1.5)
    assert sorted(mailbox.addresses()) == sorted(
        ["ops@example.test", "dev@example.test", "admin@example.test"] * 2 + ["exec@example.test"]
    )
    for escalation in Escalation.objects.all():
        assert escalation.fired_at >= escalation.deadline
    assert sorted(Escalation.objects.values_list("incident_id", "level")) == sorted(
        [(p0.pk, n) for n in (1, 2, 3, 4)] + [(p1.pk, n) for n in (1, 2, 3)]
    )
