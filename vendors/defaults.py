"""外部ベンダー連絡先 (runbook: 連絡・エスカレーション), as seed data.

Idempotent: each vendor is created only when its key is missing, so a manager's edits (the
plan, the dependent services, a CDN's own desk) survive later runs.
"""

from __future__ import annotations

from django.db import transaction

from config.base import SYSTEM, record_save

from .models import Vendor

VENDORS = [
    {
        "key": "vercel",
        "name": "Vercel",
        "provides_ja": "ホスティング・デプロイ (Vercel Edge Network)",
        "provides_en": "Hosting and deploys (Vercel Edge Network)",
        "support_channel_ja": "サポートチケット経由",
        "support_channel_en": "Support ticket",
        "support_url": "https://vercel.com/help",
        "services": ["web", "api"],
    },
    {
        "key": "supabase",
        "name": "Supabase",
        "provides_ja": "データベース・自動バックアップ",
        "provides_en": "Database and automatic backups",
        "support_channel_ja": "ダッシュボード内サポート",
        "support_channel_en": "Support from the dashboard",
        "support_url": "https://supabase.com/dashboard/support/new",
        "services": ["database", "backup"],
    },
    {
        "key": "cdn",
        "name": "CDN",
        "provides_ja": "静的アセット・画像の配信",
        "provides_en": "Static assets and images",
        "support_channel_ja": "各種プロバイダー窓口",
        "support_channel_en": "Each provider's support desk",
        "notes": "プロバイダーごとの窓口をここに記載する。",
        "services": ["cdn", "static", "images"],
    },
]


@transaction.atomic
def load_vendor_defaults() -> dict[str, int]:
    created = 0
    for spec in VENDORS:
        if not Vendor.objects.filter(key=spec["key"]).exists():
            record_save(Vendor(**spec), actor=SYSTEM)
            created += 1
    return {"vendors": created}
