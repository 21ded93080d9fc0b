"""The runbook's 報告フロー and 緊急連絡先 as seed data.

Idempotent: teams and the default policy are created only when missing (by name), so a
manager's edits survive later runs. A team address set in the environment (TEAM_*_EMAIL)
is applied on every run: the environment is how an operator overrides the runbook's.
"""

from __future__ import annotations

import os
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from config.base import SYSTEM

from .models import EscalationPolicy, StopOn, Team
from .services import policies

TEAMS = [
    ("operations", "運用チーム", "Operations team", "TEAM_OPERATIONS_EMAIL"),
    ("development", "開発チーム", "Development team", "TEAM_DEVELOPMENT_EMAIL"),
    ("sysadmin", "システム管理者", "System administrator", "TEAM_SYSADMIN_EMAIL"),
    ("executives", "経営陣", "Executives", "TEAM_EXECUTIVES_EMAIL"),
]

DEFAULT_POLICY = "runbook"
# number, name, delay, minimum severity, team, 24-hour phone in the notice
LEVELS = [
    (1, "運用チーム (初期対応)", timedelta(0), "", "operations", False),
    (2, "開発チーム (技術対応)", timedelta(minutes=15), "", "development", False),
    (3, "システム管理者 (意思決定)", timedelta(hours=1), "", "sysadmin", True),
    # 重大な問題の場合: P0 when level 3 is reached (or by hand, whatever the severity).
    (4, "経営陣 (ビジネス判断)", timedelta(hours=1), "P0", "executives", True),
]


@transaction.atomic
def load_escalation_defaults() -> dict[str, int]:
    created = {"teams": 0, "policies": 0}
    teams = {}
    for name, name_ja, name_en, setting in TEAMS:
        address = getattr(settings, setting)
        team = Team.objects.filter(name=name).first()
        if team is None:
            fields = {"name": name, "name_ja": name_ja, "name_en": name_en, "email": address}
            team = policies.team_create(actor=SYSTEM, **fields)
            created["teams"] += 1
        elif setting in os.environ and team.email != address:
            team = policies.team_update(team=team, actor=SYSTEM, email=address)
        teams[name] = team
    if not EscalationPolicy.objects.filter(name=DEFAULT_POLICY).exists():
        policies.policy_create(
            actor=SYSTEM,
            name=DEFAULT_POLICY,
            description="本番運用ランブック: 連絡・エスカレーション / 報告フロー",
            is_default=not EscalationPolicy.objects.filter(is_default=True).exists(),
            stop_on=StopOn.RESOLVED,
            levels=[
                policies.LevelSpec(
                    number=number,
                    name=name,
                    delay=delay,
                    min_severity=min_severity,
                    emergency_contact=phone,
                    teams=[teams[team]],
                )
                for number, name, delay, min_severity, team, phone in LEVELS
            ],
        )
        created["policies"] += 1
    return created
