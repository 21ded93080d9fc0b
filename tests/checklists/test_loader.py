"""The defaults loader: every runbook procedure and command, created once, edits kept."""

import io
import json
import re
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from checklists.defaults import load_checklist_defaults
from checklists.models import ChecklistTemplate, KnownProblem, TemplateItem

RUNBOOK = Path(settings.BASE_DIR) / "docs" / "RUNBOOK.ja.md"
# Runbook section holding a ```bash / ```sql block → the template that must carry it.
SECTION_TEMPLATE = {
    "通常デプロイ": "production-release",
    "緊急デプロイ": "emergency-deploy",
    "ロールバック手順": "rollback",
    "マイグレーション": "migration",
    "データベース監視": "weekly",
    "定期セキュリティチェック": "security-audit",
    "バックエンド最適化": "monthly",
    "ログ分析": "incident-response",
    "デバッグコマンド": "incident-response",
}


def runbook_commands() -> list[tuple[str, str, str]]:
    """(section, language, command) for every command of every bash and sql block."""
    found, section = [], None
    lines = iter(RUNBOOK.read_text().splitlines())
    for line in lines:
        if heading := re.match(r"^###\s+\d+\.\s+(.+)$", line):
            section = heading.group(1).strip()
        if line.strip() not in ("```bash", "```sql"):
            continue
        language, block = line.strip()[3:], []
        for body in lines:
            if body.strip() == "```":
                break
            block.append(body.rstrip())
        if language == "bash":
            found += [(section, language, c) for c in block if c and not c.startswith("#")]
        else:
            code = "\n".join(c for c in block if not c.startswith("--"))
            found += [(section, language, s.strip() + ";") for s in code.split(";") if s.strip()]
    return found


def test_every_runbook_command_is_an_item_of_its_procedure_verbatim():
    commands = runbook_commands()
    assert len(commands) >= 30  # the parser found the blocks

    for section, language, command in commands:
        template = ChecklistTemplate.objects.get(key=SECTION_TEMPLATE[section])
        carried = [
            line
            for item in template.items.filter(command_language=language)
            for line in ([item.command] if language == "sql" else item.command.splitlines())
        ]
        assert command in carried, f"{section}: {command!r} missing from {template.key}"


def test_every_procedure_of_the_runbook_is_seeded_with_japanese_and_english():
    keys = set(ChecklistTemplate.objects.values_list("key", flat=True))

    assert {
        "incident-response",
        "security-incident",
        "production-release",
        "emergency-deploy",
        "rollback",
        "migration",
        "security-audit",
        "daily",
        "weekly",
        "monthly",
    } <= keys
    assert not TemplateItem.objects.filter(text_ja="").exists()
    assert not TemplateItem.objects.filter(text_en="").exists()
    security = ChecklistTemplate.objects.get(key="security-incident")
    assert [i.text_ja.split(":")[0] for i in security.items.order_by("position")] == [
        "検知",
        "封じ込め",
        "根絶",
        "回復",
        "教訓",
    ]
    daily = ChecklistTemplate.objects.get(key="daily").items.values_list("text_ja", flat=True)
    assert list(daily) == [
        "システム状態確認",
        "エラーログレビュー",
        "パフォーマンスメトリクス確認",
        "バックアップ状態確認",
    ]


def test_running_the_loader_twice_changes_nothing():
    before = (
        list(ChecklistTemplate.objects.order_by("pk").values()),
        list(TemplateItem.objects.order_by("pk").values()),
        list(KnownProblem.objects.order_by("pk").values("pk", "key", "title_ja")),
        list(PeriodicTask.objects.order_by("pk").values("pk", "name", "crontab_id", "kwargs")),
    )

    created = load_checklist_defaults()
    out = io.StringIO()
    call_command("load_runbook_defaults", stdout=out)

    assert created == {"templates": 0, "known_problems": 0, "schedules": 0}
    assert "checklists: 0 templates, 0 known problems, 0 beat tasks created" in out.getvalue()
    assert before == (
        list(ChecklistTemplate.objects.order_by("pk").values()),
        list(TemplateItem.objects.order_by("pk").values()),
        list(KnownProblem.objects.order_by("pk").values("pk", "key", "title_ja")),
        list(PeriodicTask.objects.order_by("pk").values("pk", "name", "crontab_id", "kwargs")),
    )


def test_a_managers_edits_to_a_seeded_template_survive_a_later_run():
    daily = ChecklistTemplate.objects.get(key="daily")
    daily.name_en = "Morning checks"
    daily.save()
    daily.items.filter(position=4).delete()
    daily.items.create(position=9, text_ja="証明書の期限確認", text_en="Check certificate expiry")
    beat = PeriodicTask.objects.get(name="checklists: daily")
    beat.crontab.hour = "8"
    beat.crontab.save()
    problem = KnownProblem.objects.get(key="authentication-error")
    problem.keywords += ", SSO"
    problem.save()

    load_checklist_defaults()

    daily.refresh_from_db()
    assert daily.name_en == "Morning checks"
    assert list(daily.items.values_list("position", flat=True)) == [1, 2, 3, 9]
    assert PeriodicTask.objects.get(name="checklists: daily").crontab.hour == "8"
    assert KnownProblem.objects.get(key="authentication-error").keywords.endswith(", SSO")


def test_maintenance_is_scheduled_at_nine_jst_daily_on_mondays_and_on_the_first():
    schedules = {
        t.name: (t.crontab.minute, t.crontab.hour, t.crontab.day_of_week, t.crontab.day_of_month)
        for t in PeriodicTask.objects.filter(name__startswith="checklists: ")
    }

    assert schedules["checklists: daily"] == ("0", "9", "*", "*")
    assert schedules["checklists: weekly"] == ("0", "9", "1", "*")
    assert schedules["checklists: monthly"] == ("0", "9", "*", "1")
    for task in PeriodicTask.objects.filter(name__startswith="checklists: "):
        assert str(task.crontab.timezone) == "Asia/Tokyo"
    daily = PeriodicTask.objects.get(name="checklists: daily")
    assert daily.task == "checklists.maintenance_run_create"
    assert json.loads(daily.kwargs) == {"key": "daily"}
    assert ChecklistTemplate.objects.get(key="daily").schedule == daily
