"""The bytes a notice goes out as are exactly those the standard library's generator makes of
its message, however the headers fold (Japanese subjects, long lines, many of them)."""

import pytest
import time_machine

import notices.emails
from notices.emails import message_bytes, notice_message
from notices.models import Delivery, Notice
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db

BOUNDARY = "=_hikeshi_0123456789abcdef01234567"


@time_machine.travel("2026-12-02 05:00:00+00:00", tick=False)
def test_a_notices_bytes_are_the_email_packages_own(monkeypatch):
    incident = IncidentFactory(severity="P0")
    subjects = ["[P0] 決済APIが応答しません " * 6, "[P1] plain ascii", "x" * 300]
    texts = ["本文\n" * 30, "a" * 1200 + "\n", "short"]
    messages = [
        notice_message(
            Notice.objects.create(
                kind=Notice.Kind.MESSAGE,
                incident=incident,
                recipient=f"r{n}@例え.jp" if n == 2 else f"r{n}@x.test",
                delivery=Delivery.IMMEDIATE,
                data={"subject": subject, "text": text},
            )
        )
        for n, (subject, text) in enumerate(zip(subjects, texts, strict=True))
    ]
    monkeypatch.setattr(notices.emails.secrets, "token_hex", lambda _n: BOUNDARY[10:])

    for _round in range(2):  # the second time from remembered folds
        for message in messages:
            expected = message.message()
            expected.set_boundary(BOUNDARY)
            assert message_bytes(message) == expected.as_bytes(linesep="\r\n")
