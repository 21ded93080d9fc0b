"""The postmortem report: complete, deterministic, and unbreakable by what people type."""

import datetime as dt
import os
from pathlib import Path
from unittest import mock

import markdown
import pytest
import time_machine
from django.utils import timezone

from alerts.events import AlertEvent
from alerts.services import alerts_ingest
from checklists import services as checklist_services
from checklists.models import ChecklistTemplate, RunItem
from config.base import SYSTEM
from incidents import postmortems, services
from incidents.models import ActionItem, Incident
from integrations.services import integration_create
from tests.checklists.factories import resolve_all_items
from vendors.models import Vendor
from vendors.services import vendor_ticket_close, vendor_ticket_open

GOLDEN = Path(__file__).parent / "golden"
JST = dt.timezone(dt.timedelta(hours=9))
T0 = dt.datetime(2026, 11, 2, 10, 0, tzinfo=JST)


@pytest.fixture
def closed_incident(make_user):
    """A fixed, fully populated incident: every section of the report has content."""
    template = ChecklistTemplate.objects.get(key="incident-response")
    ChecklistTemplate.objects.exclude(pk=template.pk).update(is_active=False)
    commander = make_user("sysadmins", username="tanaka")
    operator = make_user("operations", username="suzuki")
    integration, _ = integration_create(name="prometheus-prod", kind="alertmanager", actor=SYSTEM)
    with time_machine.travel(T0, tick=False):
        incident = alerts_ingest(
            integration=integration,
            events=[
                AlertEvent(
                    key="grp-1",
                    fingerprint="fp-1",
                    firing=True,
                    title="決済APIの応答遅延 (API response > 2s)",
                    severity="P1",
                    summary="決済APIのp95応答時間が2秒を超過",
                    source="api-1:9100",
                    service="payments",
                    labels={"alertname": "SlowApiResponses", "severity": "error"},
                    starts_at=T0 - dt.timedelta(minutes=3),
                )
            ],
        )[0]
    steps = [
        (
            5,
            lambda i: services.incident_transition(
                incident=i, action="acknowledge", actor=operator
            ),
        ),
        (
            6,
            lambda i: services.incident_assign_commander(
                incident=i, commander=commander, actor=operator
            ),
        ),
        (
            9,
            lambda i: services.incident_change_severity(
                incident=i, severity="P0", actor=commander, note="全決済が失敗"
            ),
        ),
        (
            12,
            lambda i: services.incident_transition(
                incident=i, action="investigate", actor=operator
            ),
        ),
        (
            20,
            lambda i: services.incident_add_note(
                incident=i, actor=operator, message="DB接続数が上限に到達 (max_connections)"
            ),
        ),
        (
            25,
            lambda i: vendor_ticket_open(
                incident=i,
                vendor=Vendor.objects.get(key="supabase"),
                reference="SUP-12345",
                note="max_connections の一時引き上げを依頼",
                actor=commander,
            ),
        ),
        (
            26,
            lambda i: vendor_ticket_open(
                incident=i,
                vendor=Vendor.objects.get(key="vercel"),
                reference="https://vercel.com/help/case/678",
                actor=operator,
            ),
        ),
        (31, lambda i: services.incident_transition(incident=i, action="recover", actor=commander)),
        (
            40,
            lambda i: vendor_ticket_close(
                ticket=i.vendor_tickets.get(reference="SUP-12345"), actor=commander, note="回答あり"
            ),
        ),
        (47, lambda i: services.incident_transition(incident=i, action="resolve", actor=commander)),
    ]
    for minutes, step in steps:
        with time_machine.travel(T0 + dt.timedelta(minutes=minutes), tick=False):
            step(incident)
    with time_machine.travel(T0 + dt.timedelta(hours=2), tick=False):
        services.postmortem_update(
            incident=incident,
            actor=commander,
            impact="全ユーザーの決済が約40分間失敗",
            root_cause=(
                "接続プールの上限 (`max_connections=100`) に到達\n\n"
                "# 確認したこと\n\n"
                "1. `SHOW max_connections;` が 100\n"
                "2. 接続数が **100** に張り付いていた\n\n"
                "```sql\nSELECT count(*) FROM pg_stat_activity;\n```"
            ),
            resolution=(
                "接続プールを拡張し、アプリケーションを再起動\n\n"
                "    sudo systemctl restart app\n\n"
                "<script>alert(1)</script> は設定画面に残っていたメモ"
            ),
            impact_users="約12,000人",
            impact_duration="42分",
            impact_data="なし",
            contributing_factors="- 接続数の監視閾値が 95% と高すぎた\n- リトライが接続を増幅した",
            lessons_learned="監視\n===\n\nDB接続数 80% で警告する (ランブック準拠) <b>必須</b>",
        )
        ActionItem.objects.create(
            incident=incident,
            title="DB接続数アラートを80%に変更",
            owner=commander,
            due_date=dt.date(2026, 11, 16),
            link="https://example.jp/issues/42",
        )
        ActionItem.objects.create(
            incident=incident,
            title="リトライにバックオフを導入",
            owner=operator,
            due_date=dt.date(2026, 11, 30),
            status="done",
        )
    with time_machine.travel(T0 + dt.timedelta(hours=2, minutes=30), tick=False):
        items = list(RunItem.objects.filter(run__incident=incident).order_by("position", "pk"))
        for item in items[:-1]:
            checklist_services.run_item_tick(item=item, actor=commander)
        checklist_services.run_item_skip(
            item=items[-1], actor=commander, reason="報告書はこのファイル自体"
        )
    with time_machine.travel(T0 + dt.timedelta(hours=3), tick=False):
        services.incident_transition(incident=incident, action="close", actor=commander)
    return Incident.objects.get(pk=incident.pk)


@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_report_matches_the_reviewed_golden_file(closed_incident, language):
    text = postmortems.report_render(incident=closed_incident, language=language)
    golden = GOLDEN / f"postmortem.{language}.md"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text.replace(closed_incident.key, "INC-1"), encoding="utf-8")
        pytest.skip("golden file rewritten; review the diff")
    expected = golden.read_text(encoding="utf-8").replace("INC-1", closed_incident.key)
    assert text == expected


def test_regenerating_an_unchanged_incident_gives_identical_bytes(closed_incident):
    first = postmortems.report_write(incident=closed_incident).read_bytes()
    with time_machine.travel(timezone.now() + dt.timedelta(days=3)):
        second = postmortems.report_write(incident=closed_incident).read_bytes()
    assert first == second


def test_closing_writes_the_report_into_the_configured_folder(
    settings, django_capture_on_commit_callbacks, declare, sysadmin
):
    incident = declare(title="Login failure ログイン不可")
    resolve_all_items(incident, sysadmin)
    services.incident_transition(incident=incident, action="resolve", actor=sysadmin)
    services.incident_update(incident=incident, actor=sysadmin, root_cause="a", resolution="b")
    with django_capture_on_commit_callbacks(execute=True):
        services.incident_transition(incident=incident, action="close", actor=sysadmin)
    day = incident.detected_at.astimezone(JST).strftime("%Y-%m-%d")
    path = Path(settings.POSTMORTEM_DIR) / f"{day}-{incident.key}-login-failure.md"
    assert path.exists()
    assert f"# 障害報告書: {incident.key} Login failure ログイン不可" in path.read_text()


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("決済APIの応答遅延", "api"),
        ("Disk full on db-1", "disk-full-on-db-1"),
        ("ログイン不可", None),
        ("", None),
    ],
)
def test_file_names_carry_an_ascii_slug_or_the_key_alone(title, slug):
    incident = Incident(
        pk=7, title=title, detected_at=dt.datetime(2026, 1, 31, 16, 0, tzinfo=dt.UTC)
    )
    expected = f"2026-02-01-INC-7-{slug}.md" if slug else "2026-02-01-INC-7.md"
    assert postmortems.report_filename(incident) == expected


def _html(incident):
    return markdown.markdown(
        postmortems.report_render(incident=incident, language="en"),
        extensions=["tables", "fenced_code"],
    )


def _section(html: str, title: str) -> str:
    """The HTML between a section's heading and the next section's."""
    start = html.index(f"<h2>{title}</h2>") + len(f"<h2>{title}</h2>")
    return html[start : html.index("<h2>", start)]


def test_hostile_one_line_fields_cannot_break_the_markdown_structure(declare, sysadmin):
    incident = declare(title="# DROP | `rm -rf` **boom** [x](javascript:alert(1)) <b>")
    services.incident_add_note(incident=incident, actor=sysadmin, message="a | b\n# not a heading")
    plain = declare(title="plain")
    services.incident_add_note(incident=plain, actor=sysadmin, message="a b")

    html, reference = _html(incident), _html(plain)

    for tag in ("<h1", "<h2", "<h3", "<table", "<tr", "<td", "<li", "<blockquote", "<code", "<a "):
        assert html.count(tag) == reference.count(tag), tag
    assert "<b>" not in html and "<strong>" not in html
    assert "# DROP | `rm -rf` **boom**" in html.replace("&lt;", "<").replace("&gt;", ">")


def test_free_text_sections_keep_the_responders_markdown(declare, sysadmin):
    incident = declare(title="plain")
    services.incident_update(
        incident=incident,
        actor=sysadmin,
        root_cause=(
            "# Cause\n\n- pool full\n- retries\n\n```sh\npsql -c 'SHOW max_connections'\n```"
        ),
        resolution="Restarted <script>alert(1)</script> and `<kept>`\n\n<div onclick=x>block</div>",
    )

    html = _html(incident)
    root_cause, resolution = _section(html, "Root cause"), _section(html, "Resolution")

    assert "<h3>Cause</h3>" in root_cause and html.count("<h1>") == 1
    assert "<li>pool full</li>" in root_cause
    assert "<pre><code class=\"language-sh\">psql -c 'SHOW max_connections'" in root_cause
    assert "<script>" not in html and "<div onclick" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in resolution
    assert "<code>&lt;kept&gt;</code>" in resolution


def test_blank_lines_inside_a_code_block_are_kept(declare, sysadmin):
    script = "```sh\nsudo systemctl stop app\n\n\nsudo systemctl start app\n```"
    incident = declare(title="plain")
    services.incident_update(incident=incident, actor=sysadmin, root_cause=script)

    text = postmortems.report_render(incident=incident, language="en")

    assert script in text
    assert "\n\n\n## " not in text  # the template's own stray blank lines still go


def test_an_unclosed_code_fence_stays_inside_its_section(declare, sysadmin):
    incident = declare(title="plain")
    services.incident_update(
        incident=incident, actor=sysadmin, root_cause="```\nSELECT 1;", resolution="done"
    )

    html = _html(incident)

    assert "SELECT 1;" in _section(html, "Root cause")
    assert "<h2>Resolution</h2>" in html


def test_a_failed_render_leaves_no_partial_file(closed_incident, settings):
    with (
        mock.patch("incidents.postmortems.report_render", return_value="partial"),
        mock.patch("os.replace", side_effect=OSError("disk full")),
        pytest.raises(OSError),
    ):
        postmortems.report_write(incident=closed_incident)
    directory = Path(settings.POSTMORTEM_DIR)
    assert list(directory.iterdir()) == []
