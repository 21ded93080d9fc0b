"""The runbook's procedures, maintenance schedule and known problems, as seed data.

Idempotent: each template, known problem and beat task is created only when missing (by key
or name), so a manager's edits survive later runs. Commands are the runbook's, verbatim.
"""

from __future__ import annotations

from django.db import transaction

from config.base import SYSTEM, record_save
from config.beat import beat_task_ensure

from .models import ChecklistTemplate, CommandLanguage, KnownProblem, TemplateItem

SH, SQL = CommandLanguage.SHELL, CommandLanguage.SQL


def item(ja, en, *, command="", language="", required=True, help_ja="", help_en=""):
    language = language or (SH if command else "")
    return {
        "text_ja": ja,
        "text_en": en,
        "command": command,
        "command_language": language,
        "required": required,
        "help_ja": help_ja,
        "help_en": help_en,
    }


# データベース監視 / バックエンド最適化 (runbook), one item per query.
SQL_CONNECTIONS = "SELECT count(*) FROM pg_stat_activity;"
SQL_SLOW_QUERIES = """SELECT query, mean_exec_time, calls
FROM pg_stat_statements
ORDER BY mean_exec_time DESC
LIMIT 10;"""
SQL_TABLE_SIZES = """SELECT schemaname, tablename,
       pg_size_pretty(pg_total_relation_size(schemaname||'.'||tablename))
FROM pg_tables
WHERE schemaname = 'public'
ORDER BY pg_total_relation_size(schemaname||'.'||tablename) DESC;"""
SQL_INDEXES = """SELECT schemaname, tablename, indexname, indexdef
FROM pg_indexes
WHERE schemaname = 'public'
ORDER BY tablename, indexname;"""
SQL_QUERY_PLAN = "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM organizations WHERE slug = 'example';"

TEMPLATES: list[dict] = [
    {
        "key": "incident-response",
        "kind": "incident",
        "name_ja": "緊急対応フロー",
        "name_en": "Incident response",
        "source": "緊急対応フロー / トラブルシューティング",
        "items": [
            item(
                "障害検知: 監視アラートを確認し、障害レベル (P0〜P3) を判定する",
                "Detection: check the monitoring alert and set the level (P0-P3)",
                help_ja="P0/P1 は即座通知。緊急連絡先: admin@luxucare.co.jp, "
                "dev-team@luxucare.co.jp",
                help_en="P0/P1 are notified at once. Contacts: admin@luxucare.co.jp, "
                "dev-team@luxucare.co.jp",
            ),
            item(
                "初期対応: 一次切り分け (影響範囲の特定)",
                "Initial response: first isolation (find what is affected)",
            ),
            item(
                "システム状態確認",
                "Check system status",
                command="npm run health:detailed",
                required=False,
            ),
            item(
                "データベース接続確認",
                "Check the database connection",
                command="npm run verify:supabase",
                required=False,
            ),
            item(
                "環境変数確認",
                "Check environment variables",
                command="npm run verify:env",
                required=False,
            ),
            item(
                "外部API確認",
                "Check the external API",
                command="curl -f https://aiohub.jp/api/health",
                required=False,
            ),
            item(
                "原因調査: ログ分析 (エラーログ検索)",
                "Investigation: log analysis (search the error log)",
                command='grep "ERROR" /var/log/app.log | tail -50',
            ),
            item(
                "パフォーマンス分析",
                "Performance analysis",
                command='grep "SLOW_QUERY" /var/log/app.log | tail -20',
                required=False,
            ),
            item(
                "ユーザー行動分析",
                "User behaviour analysis",
                command='grep "USER_ACTION" /var/log/app.log | grep "$(date +%Y-%m-%d)"',
                required=False,
            ),
            item("復旧作業: 修正適用", "Recovery: apply the fix"),
            item(
                "事後対応: レポート作成",
                "Follow-up: write the report",
                help_ja="障害対応記録: /docs/incidents/",
                help_en="Incident records: /docs/incidents/",
            ),
        ],
    },
    {
        "key": "security-incident",
        "kind": "security_incident",
        "name_ja": "セキュリティインシデント対応",
        "name_en": "Security incident response",
        "source": "セキュリティ / 3. セキュリティインシデント対応",
        "categories": ["security"],
        "items": [
            item(
                "検知: 監視システムまたは手動報告",
                "Detection: monitoring system or manual report",
            ),
            item(
                "封じ込め: 影響範囲の特定と拡大防止",
                "Containment: identify the scope and stop it spreading",
            ),
            item("根絶: 脆弱性の修正", "Eradication: fix the vulnerability"),
            item("回復: システムの正常化", "Recovery: return the system to normal"),
            item("教訓: 再発防止策の実装", "Lessons: put recurrence prevention in place"),
        ],
    },
    {
        "key": "production-release",
        "kind": "release",
        "name_ja": "通常デプロイ",
        "name_en": "Production release",
        "source": "デプロイ手順 / 1. 通常デプロイ",
        "items": [
            item("事前チェック", "Pre-flight check", command="npm run verify:prod-ready"),
            item("テスト実行", "Run the tests", command="npm run test:production"),
            item("ビルド確認", "Check the build", command="npm run build"),
            item("デプロイ実行 (Vercel)", "Deploy (Vercel)", command="git push origin main"),
            item("事後確認", "Post-deploy check", command="npm run health:production"),
        ],
    },
    {
        "key": "emergency-deploy",
        "kind": "emergency_deploy",
        "name_ja": "緊急デプロイ",
        "name_en": "Emergency deploy",
        "source": "デプロイ手順 / 2. 緊急デプロイ",
        "items": [
            item(
                "ホットフィックス作成",
                "Create the hotfix branch",
                command="git checkout -b hotfix/urgent-fix",
            ),
            item("修正実装 [コード修正]", "Implement the fix [code change]"),
            item("最小限テスト", "Minimal tests", command="npm run test:critical"),
            item(
                "即座デプロイ",
                "Deploy at once",
                command="git push origin hotfix/urgent-fix",
                help_ja="→ GitHub Actions で自動デプロイ",
                help_en="→ GitHub Actions deploys automatically",
            ),
            item("動作確認", "Check it works", command="curl -f https://aiohub.jp/api/health"),
        ],
    },
    {
        "key": "rollback",
        "kind": "rollback",
        "name_ja": "ロールバック手順",
        "name_en": "Rollback",
        "source": "デプロイ手順 / 3. ロールバック手順",
        "items": [
            item(
                "前回の正常バージョン確認",
                "Find the last good version",
                command="git log --oneline -10",
            ),
            item(
                "ロールバック実行",
                "Roll back",
                command="git revert <commit-hash>\ngit push origin main",
            ),
            item("確認", "Check", command="npm run health:production"),
        ],
    },
    {
        "key": "migration",
        "kind": "migration",
        "name_ja": "マイグレーション",
        "name_en": "Database migration",
        "source": "データベース運用 / 2. マイグレーション",
        "items": [
            item(
                "マイグレーション作成",
                "Create the migration",
                command="supabase migration new migration_name",
            ),
            item(
                "本番適用前テスト",
                "Test before applying to production",
                command="supabase db reset\nnpm run test:integration",
            ),
            item("本番適用", "Apply to production", command="supabase db push"),
        ],
    },
    {
        "key": "security-audit",
        "kind": "security_audit",
        "name_ja": "定期セキュリティチェック",
        "name_en": "Security audit",
        "source": "セキュリティ / 1. 定期セキュリティチェック",
        "items": [
            item("脆弱性スキャン", "Vulnerability scan", command="npm audit --audit-level=high"),
            item("依存関係チェック", "Dependency check", command="npm run security:check"),
            item("コードスキャン", "Code scan", command="npm run lint:security"),
        ],
    },
    {
        "key": "daily",
        "kind": "daily",
        "name_ja": "日次タスク",
        "name_en": "Daily maintenance",
        "source": "定期メンテナンス / 1. 日次タスク",
        "items": [
            item("システム状態確認", "Check system status"),
            item("エラーログレビュー", "Review the error log"),
            item("パフォーマンスメトリクス確認", "Check performance metrics"),
            item(
                "バックアップ状態確認",
                "Check the backups",
                help_ja="自動バックアップ: 毎日3:00 AM (JST)、保存期間30日間",
                help_en="Automatic backup daily at 3:00 AM JST, kept 30 days",
            ),
        ],
    },
    {
        "key": "weekly",
        "kind": "weekly",
        "name_ja": "週次タスク",
        "name_en": "Weekly maintenance",
        "source": "定期メンテナンス / 2. 週次タスク; データベース監視",
        "items": [
            item("セキュリティアップデート確認", "Check security updates"),
            item("データベース統計更新", "Update database statistics"),
            item("容量使用状況確認", "Check disk and storage use"),
            item("ユーザーフィードバック確認", "Review user feedback"),
            item("接続数確認", "Check connections", command=SQL_CONNECTIONS, language=SQL),
            item("スロークエリ確認", "Check slow queries", command=SQL_SLOW_QUERIES, language=SQL),
            item("テーブルサイズ確認", "Check table sizes", command=SQL_TABLE_SIZES, language=SQL),
        ],
    },
    {
        "key": "monthly",
        "kind": "monthly",
        "name_ja": "月次タスク",
        "name_en": "Monthly maintenance",
        "source": "定期メンテナンス / 3. 月次タスク; バックエンド最適化",
        "items": [
            item("パフォーマンステスト実行", "Run the performance tests"),
            item(
                "セキュリティ監査",
                "Security audit",
                help_ja="定期セキュリティチェックのチェックリストを使う",
                help_en="Use the security audit checklist",
            ),
            item("データベース最適化", "Optimise the database"),
            item("インデックス確認", "Review indexes", command=SQL_INDEXES, language=SQL),
            item("クエリプラン分析", "Analyse a query plan", command=SQL_QUERY_PLAN, language=SQL),
            item("運用レポート作成", "Write the operations report"),
        ],
    },
]

KNOWN_PROBLEMS: list[dict] = [
    {
        "key": "organization-creation-error",
        "title_ja": "組織作成エラー",
        "title_en": "Organisation creation fails",
        "symptom_ja": "500エラー、DATABASE_ERROR",
        "symptom_en": "500 error, DATABASE_ERROR",
        "causes_ja": "無効な日付形式、Zod検証エラー",
        "causes_en": "Invalid date format, Zod validation error",
        "resolution_ja": "1. ログ確認: /var/log/app.log\n2. Zodスキーマ検証\n"
        "3. データベース制約確認",
        "resolution_en": "1. Check the log: /var/log/app.log\n2. Validate the Zod schema\n"
        "3. Check the database constraints",
        "keywords": "組織作成, 組織, 500, DATABASE_ERROR, 日付, Zod, 検証エラー, organization, "
        "organisation, internal server error, database error, date format, validation",
    },
    {
        "key": "authentication-error",
        "title_ja": "認証エラー",
        "title_en": "Authentication error",
        "symptom_ja": "401 Unauthorized",
        "symptom_en": "401 Unauthorized",
        "causes_ja": "JWT期限切れ、RLS違反",
        "causes_en": "Expired JWT, RLS violation",
        "resolution_ja": "1. セッション確認: /api/auth/session\n2. RLSポリシー確認\n"
        "3. ユーザー権限検証",
        "resolution_en": "1. Check the session: /api/auth/session\n2. Check the RLS policies\n"
        "3. Verify the user's permissions",
        "keywords": "認証, ログイン, 401, Unauthorized, JWT, トークン, 期限切れ, RLS, セッション, "
        "権限, authentication, login, log in, token, expired, session, permission",
    },
    {
        "key": "slow-response",
        "title_ja": "パフォーマンス低下",
        "title_en": "Slow responses",
        "symptom_ja": "応答時間>2秒",
        "symptom_en": "Response time > 2 s",
        "causes_ja": "データベースクエリ、メモリリーク",
        "causes_en": "Database queries, memory leak",
        "resolution_ja": "1. /ops/monitoring でメトリクス確認\n2. スロークエリ分析\n"
        "3. メモリプロファイリング",
        "resolution_en": "1. Check the metrics at /ops/monitoring\n2. Analyse slow queries\n"
        "3. Profile memory",
        "keywords": "パフォーマンス, 応答時間, 応答, 遅延, 遅い, 2秒, タイムアウト, スロークエリ, "
        "メモリリーク, performance, slow, latency, response time, timeout, 2 s, 2s, "
        "2 seconds, slow query, memory leak",
    },
]

# Beat tasks: name → (template key or None, crontab minute, hour, day_of_week, day_of_month).
MAINTENANCE_SCHEDULES = {
    "daily": ("0", "9", "*", "*"),
    "weekly": ("0", "9", "1", "*"),  # Monday
    "monthly": ("0", "9", "*", "1"),
}
OVERDUE_SWEEP = ("*/5", "*", "*", "*")


@transaction.atomic
def load_checklist_defaults() -> dict[str, int]:
    """Create what is missing; returns how many of each were created."""
    created = {"templates": 0, "known_problems": 0, "schedules": 0}
    for spec in TEMPLATES:
        spec = dict(spec)
        items = spec.pop("items")
        template = ChecklistTemplate.objects.filter(key=spec["key"]).first()
        new = template is None
        if new:
            template = record_save(ChecklistTemplate(**spec), actor=SYSTEM)
            created["templates"] += 1
            for n, fields in enumerate(items, start=1):
                record_save(TemplateItem(template=template, position=n, **fields), actor=SYSTEM)
        if template.kind in MAINTENANCE_SCHEDULES:
            task, task_new = beat_task_ensure(
                name=f"checklists: {template.key}",
                task="checklists.maintenance_run_create",
                cron=MAINTENANCE_SCHEDULES[template.kind],
                kwargs={"key": template.key},
            )
            created["schedules"] += task_new
            if new or task_new:
                # Linked only when one of them is new: a manager's unlinking is kept.
                template.schedule = task
                record_save(template, actor=SYSTEM, changed=["schedule"])
    _, sweep_new = beat_task_ensure(
        name="checklists: overdue notices", task="checklists.runs_mark_overdue", cron=OVERDUE_SWEEP
    )
    created["schedules"] += sweep_new
    for spec in KNOWN_PROBLEMS:
        if not KnownProblem.objects.filter(key=spec["key"]).exists():
            record_save(KnownProblem(**spec), actor=SYSTEM)
            created["known_problems"] += 1
    return created
