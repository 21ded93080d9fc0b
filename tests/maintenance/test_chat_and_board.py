"""Where people see the windows: chat's `list` and `status` (a line when the incident's
service is under maintenance) and the board's section."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tests.chat.conftest import chat_settings, link_chat, slack, slack_command  # noqa: F401


def ja(text: str) -> str:
    with translation.override("ja"):
        return _(text)


@pytest.fixture
def operator_in_chat(operator, link_chat):  # noqa: F811
    link_chat(operator)
    return operator


def test_status_says_when_the_incidents_service_is_under_maintenance(
    slack_command,  # noqa: F811
    operator_in_chat,
    declare,
    window,
):
    incident = declare(title="決済APIの応答遅延", severity="P0", service="payments")
    window(reason="決済リリース")

    answer = slack_command(f"status {incident.key}")["text"]

    assert "決済リリース" in answer
    assert ja("Under maintenance: %(scope)s until %(until)s — %(reason)s").split(":")[0] in answer


def test_status_says_nothing_of_maintenance_for_another_service(
    slack_command,  # noqa: F811
    operator_in_chat,
    declare,
    window,
):
    incident = declare(title="検索の遅延", severity="P1", service="search")
    window(reason="決済リリース")

    assert "決済リリース" not in slack_command(f"status {incident.key}")["text"]


def test_list_shows_the_windows_in_force(slack_command, operator_in_chat, window):  # noqa: F811
    window(reason="決済リリース")
    now = timezone.now()
    window(
        service="search",
        reason="来週の作業",
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=1, hours=1),
    )

    answer = slack_command("list")["text"]

    assert "payments" in answer and "決済リリース" in answer
    assert "来週の作業" not in answer


def test_the_board_shows_windows_in_force_and_coming(client, operator, window, monkeypatch):
    monkeypatch.setattr(
        "ops.board._health_summary", lambda: {"status": "ok", "label": "", "problems": []}
    )
    client.force_login(operator)
    window(reason="決済リリース")

    section = client.get(reverse("ops-monitoring-section")).content.decode()

    assert 'class="windows"' in section
    assert "決済リリース" in section and "payments" in section
    assert 'class="in-force"' in section
