"""What a notice e-mail says, in which language, with which links."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from escalation.models import Team
from escalation.services.timers import escalate_due
from notices.emails import notice_message
from notices.models import Notice
from notices.services import notice_deliver
from vendors.models import Vendor
from vendors.services import vendor_ticket_open

T0 = dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def escalated(declare, settings):
    settings.SITE_URL = "https://hikeshi.example.jp"
    settings.EMERGENCY_PHONE = "090-1234-5678"
    Team.objects.filter(name="operations").update(email="ops@luxucare.test")
    with time_machine.travel(T0, tick=False) as traveller:
        incident = declare(severity="P1", title="決済APIの応答遅延")
        traveller.move_to(T0 + dt.timedelta(hours=1))
        escalate_due(now=timezone.now())  # the travelled clock stands in for the database's
    return incident


def message_for(incident, level):
    return notice_message(Notice.objects.filter(incident=incident, escalation__level=level)[0])


def test_subject_names_severity_level_key_title_and_time_unresolved(escalated):
    message = message_for(escalated, 2)
    assert message.subject.startswith(f"[P1][L2] {escalated.key} 決済APIの応答遅延 — ")
    assert "15" in message.subject


def test_body_is_text_and_html_with_absolute_links_and_earlier_recipients(escalated):
    message = message_for(escalated, 3)
    html = message.alternatives[0].content
    for part in (message.body, html):
        assert f"https://hikeshi.example.jp/admin/incidents/incident/{escalated.pk}/" in part
        assert f"https://hikeshi.example.jp/api/v1/incidents/{escalated.key}/" in part
        assert "ops@luxucare.test" in part  # notified at level 1
        assert "dev-team@luxucare.co.jp" in part  # level 2, and a contact
        assert "090-1234-5678" in part  # level 3 carries the 24-hour phone
    assert message.alternatives[0].mimetype == "text/html"
    assert message.extra_headers["Message-ID"].startswith("<hikeshi.notice.")


def test_only_levels_three_and_four_carry_the_emergency_phone(escalated):
    assert "090-1234-5678" not in message_for(escalated, 2).body


def test_language_is_the_recipients_japanese_by_default(escalated):
    notice = Notice.objects.filter(incident=escalated, escalation__level=2)[0]
    assert notice_message(notice).extra_headers["Content-Language"] == "ja"
    assert 'lang="ja"' in notice_message(notice).alternatives[0].content
    notice.language = "en"
    english = notice_message(notice)
    assert english.extra_headers["Content-Language"] == "en"
    assert "unresolved for 15 minutes" in english.subject


def test_p1_notices_are_mailed_immediately(escalated):
    notice_deliver()
    assert {m.to[0] for m in mail.outbox} >= {"ops@luxucare.test", "dev-team@luxucare.co.jp"}


@pytest.fixture
def database_down(declare, settings, operator):
    """An incident of the database service, a Supabase ticket open, escalated to level 3."""
    settings.SITE_URL = "https://hikeshi.example.jp"
    with time_machine.travel(T0, tick=False) as traveller:
        incident = declare(severity="P1", title="DB接続不可", service="Database")
        vendor_ticket_open(
            incident=incident,
            vendor=Vendor.objects.get(key="supabase"),
            reference="SUP-77",
            actor=operator,
        )
        traveller.move_to(T0 + dt.timedelta(hours=1))
        escalate_due(now=timezone.now())
    return incident


def test_level_three_lists_the_affected_services_vendors_with_how_to_reach_them(database_down):
    message = message_for(database_down, 3)
    html = message.alternatives[0].content

    assert "影響サービスの外部ベンダー連絡先" in message.body
    line = next(line for line in message.body.splitlines() if line.startswith("- Supabase"))
    assert "ダッシュボード内サポート https://supabase.com/dashboard/support/new" in line
    assert "SUP-77" in line  # the ticket already open, so nobody opens a second
    assert "Vercel" not in message.body  # it serves web and api, not the database
    assert '<a href="https://supabase.com/dashboard/support/new">' in html


def test_level_three_in_english_says_how_to_reach_them_in_english(database_down):
    notice = Notice.objects.filter(incident=database_down, escalation__level=3)[0]
    notice.language = "en"

    body = notice_message(notice).body

    assert "Vendors of the affected service" in body
    assert "Supabase (Database and automatic backups): Support from the dashboard" in body


def test_levels_below_three_list_no_vendor(database_down):
    message = message_for(database_down, 2)
    assert "Supabase" not in message.body
    assert "Supabase" not in message.alternatives[0].content


def test_a_delivered_level_three_mail_carries_the_vendor_lines(database_down):
    notice_deliver()

    (sent,) = [m for m in mail.outbox if "[L3]" in m.subject]
    assert "supabase.com/dashboard/support/new" in sent.body
