"""The runbook's バックアップ: 自動バックアップ 毎日3:00 AM (JST). Its heartbeat, created when
missing (by name) so that a manager's edits survive later runs, and linked to the daily
checklist's バックアップ状態確認 item so that the item shows the backup's last ping."""

from __future__ import annotations

from datetime import timedelta

from checklists.models import TemplateItem
from config.base import SYSTEM

from .models import Heartbeat
from .services import heartbeat_create

BACKUP = {
    "name": "backup",
    "description": "自動バックアップ: 毎日3:00 AM (JST)、保存期間30日間",
    "schedule": Heartbeat.Schedule.CRON,
    "cron": "0 3 * * *",
    "grace": timedelta(minutes=30),
    "severity": "P1",
}
BACKUP_ITEM = ("daily", "バックアップ状態確認")


def load_heartbeat_defaults() -> dict[str, int]:
    """Create the backup heartbeat if missing; returns how many were created."""
    if Heartbeat.objects.filter(name=BACKUP["name"]).exists():
        return {"heartbeats": 0}
    template_key, text = BACKUP_ITEM
    item = TemplateItem.objects.filter(template__key=template_key, text_ja=text).first()
    heartbeat_create(actor=SYSTEM, checklist_item=item, **BACKUP)
    return {"heartbeats": 1}
