"""A long history to measure against: at `--scale 1`, 100,000 incidents over two years with
2,000,000 timeline events (one incident has 5,000 of them), 300,000 alerts, 500,000 notices and
50,000 checklist runs, written with set-based `INSERT … SELECT generate_series` on PostgreSQL.

It writes into the database `DATABASE_URL` names, which must be migrated (and hold the
runbook's checklists: `manage.py load_runbook_defaults`). It refuses SQLite, a test database,
and a database that already holds incidents (unless `--force`). Not part of `make bench` on its
own: `bench/history.py` seeds its own database with it.

Prints the time each table took, the totals, and against a bare insert of the same number of
rows into a one-column temporary table (the machine's limit) in the same run; the figures as
one JSON object on the last line.

Usage: DATABASE_URL=postgres://…/hikeshi_seeded python bench/seed.py [--scale 1] [--force]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

FULL = {
    "incidents": 100_000,
    "timeline_events": 2_000_000,
    "alerts": 300_000,
    "notices": 500_000,
    "checklist_runs": 50_000,
}
BIG_TIMELINE = 5_000
ACTIVE = 300

# Incidents over two years, one in ten of them in one storm month ~200 days ago (the busiest
# month); closed, some dismissed, the newest few still active. Titles and summaries with words
# that search finds: the service, the symptom, the host.
INCIDENTS = """
INSERT INTO incidents_incident (
    title, summary, impact, service, category, severity, state, root_cause, resolution,
    dismiss_reason, detected_at, acknowledged_at, resolved_at, closed_at, created_at,
    updated_at, escalation_level, next_escalation_at, policy_snapshot)
SELECT
    svc || 'の' || symptom || ' (' || host || ')',
    'Customers saw ' || (ARRAY['slow pages', 'errors', 'timeouts', 'failed payments',
        'stale search results', 'login failures'])[1 + mod(n * 7, 6)]
        || ' on ' || host || '; ' || symptom_en || ' reported by monitoring.',
    (ARRAY['一部ユーザーに影響', '全ユーザーに影響', '影響なし'])[1 + mod(n, 3)],
    service, (ARRAY['system', 'system', 'system', 'security'])[1 + mod(n, 4)],
    (ARRAY['P0', 'P1', 'P1', 'P2', 'P2', 'P2', 'P3', 'P3'])[1 + mod(n * 13, 8)],
    CASE WHEN active THEN (ARRAY['detected', 'triage', 'investigating', 'recovering'])[
            1 + mod(n, 4)]
         WHEN mod(n, 20) = 3 THEN 'dismissed' ELSE 'closed' END,
    CASE WHEN active THEN '' ELSE symptom_en || ' caused by a bad deploy on ' || host END,
    CASE WHEN active THEN '' ELSE 'Rolled back and restarted ' || service END,
    CASE WHEN mod(n, 20) = 3 AND NOT active THEN 'false alarm' ELSE '' END,
    detected, detected + ack,
    CASE WHEN active THEN NULL ELSE detected + ack * 6 END,
    CASE WHEN active THEN NULL ELSE detected + ack * 7 END,
    detected, detected + ack * 7,
    1 + mod(n, 4), CASE WHEN active THEN now() + interval '10 minutes' ELSE NULL END, '{}'
FROM (
    SELECT n, n > %(count)s - %(active)s AS active,
        CASE WHEN mod(n, 10) = 0 AND n <= %(count)s - %(active)s
             THEN now() - interval '215 days' + interval '1 second' * mod(n * 7919, 2592000)
             ELSE now() - interval '730 days' * (1 - n::float / %(count)s) END AS detected,
        interval '1 minute' * (1 + mod(n * 7919, 40)) AS ack,
        (ARRAY['api', 'web', 'db', 'batch', 'search', 'payment', 'auth', 'mail'])[
            1 + mod(n, 8)] AS service,
        (ARRAY['決済API', 'Webフロント', 'データベース', 'バッチ処理', '検索', '決済', '認証',
            'メール配信'])[1 + mod(n, 8)] AS svc,
        (ARRAY['応答遅延', 'エラー率上昇', '接続障害', 'CPU高負荷', 'ディスク逼迫',
            '証明書期限切れ', 'メモリ不足'])[1 + mod(n * 3, 7)] AS symptom,
        (ARRAY['slow responses', 'error rate up', 'connection failures', 'high CPU',
            'disk almost full', 'certificate expired', 'out of memory'])[
            1 + mod(n * 3, 7)] AS symptom_en,
        (ARRAY['web', 'api', 'db', 'batch'])[1 + mod(n, 4)] || '-' || (1 + mod(n, 12))
            AS host
    FROM generate_series(1, %(count)s) AS n
) AS made
"""

# About twenty events an incident, in the order the runbook makes them.
TIMELINE = """
INSERT INTO incidents_timelineevent (incident_id, kind, actor_id, at, message, data)
SELECT i.id,
    (ARRAY['declared', 'alert', 'acknowledge', 'investigate', 'note', 'escalated',
        'notice_sent', 'note', 'alert', 'checklist_done', 'note', 'notice_sent', 'fields',
        'checklist_done', 'note', 'severity', 'note', 'recover', 'resolve', 'close'])[
        1 + mod(e.seq, 20)],
    NULL, i.detected_at + interval '3 minutes' * e.seq,
    (ARRAY['', 'HighCPU firing', '', '', '再起動で様子見', 'L2', 'oncall@example.test',
        'ログを確認中', 'HighErrorRate firing', 'バックアップ確認', 'rolled back', 'L3', '',
        '影響範囲の確認', 'monitoring', 'P2 → P1', 'recovered', '', '', ''])[
        1 + mod(e.seq, 20)],
    '{}'
FROM (SELECT n / %(count)s AS seq, %(first)s + mod(n, %(count)s) AS incident_id
      FROM generate_series(0, %(events)s - 1) AS n) AS e
JOIN incidents_incident i ON i.id = e.incident_id
"""

# The one long incident: a day-long outage with an event every few seconds.
BIG = """
INSERT INTO incidents_timelineevent (incident_id, kind, actor_id, at, message, data)
SELECT %(incident)s, (ARRAY['note', 'alert', 'notice_sent', 'note', 'checklist_done'])[
        1 + mod(n, 5)], NULL,
    (SELECT detected_at FROM incidents_incident WHERE id = %(incident)s)
        + interval '15 seconds' * n,
    '状況更新 ' || n || ': still degraded on web-' || (1 + mod(n, 12)), '{}'
FROM generate_series(1, %(big_events)s) AS n
"""

ALERTS = """
INSERT INTO incidents_alert (
    fingerprint, status, summary, source, severity, labels, annotations, links, raw,
    first_received_at, last_received_at, times_received, incident_id, integration_id)
SELECT 'fp-' || a.n, CASE WHEN i.state IN ('closed', 'dismissed') THEN 'resolved'
        ELSE 'firing' END,
    a.alertname || ' on ' || a.instance, 'prometheus', i.severity,
    jsonb_build_object('alertname', a.alertname, 'instance', a.instance, 'job', a.job,
        'severity', lower(i.severity), 'env', 'prod'),
    jsonb_build_object('summary', a.alertname || ' on ' || a.instance), '[]', '{}',
    i.detected_at, i.detected_at + interval '1 minute' * mod(a.n, 30), 1 + mod(a.n, 17),
    i.id, %(integration)s
FROM (
    SELECT n, %(first)s + mod(n, %(count)s) AS incident_id,
        (ARRAY['HighCPU', 'HighMemory', 'DiskFull', 'SlowResponses', 'HighErrorRate',
            'TooManyConnections', 'TargetDown', 'CertificateExpiry'])[
            1 + mod(mod(n, %(count)s) * 3 + n / %(count)s, 8)] AS alertname,
        (ARRAY['web', 'api', 'db', 'batch'])[1 + mod(n, 4)] || '-' || (1 + mod(n, 12))
            || ':9100' AS instance,
        (ARRAY['node', 'api', 'postgres', 'redis', 'nginx'])[1 + mod(n, 5)] AS job
    FROM generate_series(0, %(alerts)s - 1) AS n
) AS a
JOIN incidents_incident i ON i.id = a.incident_id
"""

NOTICES = """
INSERT INTO escalation_notice (
    kind, recipient, recipient_name, language, channel, delivery, status, attempts, last_error,
    sent_at, created_at, data, incident_id)
SELECT (ARRAY['notice', 'update', 'notice', 'update', 'message'])[1 + mod(x.seq, 5)],
    'oncall' || (1 + mod(x.n, 9)) || '@example.test', '', 'ja',
    (ARRAY['email', 'email', 'slack', 'email', 'mattermost'])[1 + mod(x.n, 5)],
    (ARRAY['immediate', 'immediate', 'hourly', 'daily'])[1 + mod(x.n, 4)],
    CASE WHEN mod(x.n, 50) = 7 THEN 'failed' ELSE 'sent' END, 1 + mod(x.n, 3),
    CASE WHEN mod(x.n, 50) = 7 THEN 'SMTP 421 try again later' ELSE '' END,
    i.detected_at + interval '2 minutes' * (1 + x.seq), i.detected_at + interval '1 minute',
    '{}', i.id
FROM (SELECT n, n / %(count)s AS seq, %(first)s + mod(n, %(count)s) AS incident_id
      FROM generate_series(0, %(notices)s - 1) AS n) AS x
JOIN incidents_incident i ON i.id = x.incident_id
"""

RUNS = """
INSERT INTO checklists_checklistrun (
    template_id, kind, name_ja, name_en, incident_id, period_start, due_at, completed_at,
    overdue_notified_at, created_at)
SELECT t.id, t.kind, t.name_ja, t.name_en, i.id, NULL, NULL,
    CASE WHEN i.state IN ('closed', 'dismissed') THEN i.detected_at + interval '30 minutes'
    END, NULL, i.detected_at + interval '5 minutes'
FROM (SELECT %(first)s + mod(n * 2, %(count)s) AS incident_id
      FROM generate_series(0, %(runs)s - 1) AS n) AS r
JOIN incidents_incident i ON i.id = r.incident_id
CROSS JOIN (SELECT id, kind, name_ja, name_en FROM checklists_checklisttemplate
            WHERE id = %(template)s) AS t
"""

BARE = """
CREATE TEMPORARY TABLE seed_bare (n bigint);
INSERT INTO seed_bare SELECT n FROM generate_series(1, %(rows)s) AS n;
DROP TABLE seed_bare;
"""


def counts_for(scale: float) -> dict[str, int]:
    counts = {name: max(1, round(full * scale)) for name, full in FULL.items()}
    counts["big_timeline"] = max(1, round(BIG_TIMELINE * scale))
    counts["timeline_events"] = max(counts["incidents"], counts["timeline_events"])
    return counts


def refuse_reason(*, force: bool) -> str | None:
    """Why this database must not be seeded, or None."""
    from django.db import connection

    from incidents.models import Incident

    if connection.vendor != "postgresql":
        return "seed.py writes PostgreSQL only: set DATABASE_URL to a PostgreSQL database"
    name = connection.settings_dict["NAME"]
    if name.startswith("test_") or name == connection.settings_dict.get("TEST", {}).get("NAME"):
        return f"{name} is a test database"
    if Incident.objects.exists() and not force:
        return f"{name} already holds incidents (use --force to add more)"
    return None


def prerequisites() -> tuple[int, int]:
    """An integration for the alerts and a template for the runs (made if missing)."""
    from checklists.models import ChecklistTemplate
    from integrations.models import Integration

    integration = Integration.objects.order_by("pk").first()
    if integration is None:
        from django.contrib.auth.models import User

        from integrations.services import integration_create

        actor, _ = User.objects.get_or_create(
            username="seed", defaults={"is_staff": True, "is_superuser": True}
        )
        integration, _secret = integration_create(
            name="seed-alertmanager", kind="alertmanager", actor=actor
        )
    template = ChecklistTemplate.objects.order_by("pk").first()
    if template is None:
        raise SystemExit("no checklist template: run manage.py load_runbook_defaults first")
    return integration.pk, template.pk


def seed(*, scale: float) -> dict:
    """Write the history; returns the counts, the seconds each table took and the long one."""
    from django.db import connection, transaction

    counts = counts_for(scale)
    integration, template = prerequisites()
    figures: dict = {"scale": scale}
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM incidents_incident")
        before = cursor.fetchone()[0]
    params = {
        "count": counts["incidents"],
        "active": min(ACTIVE, counts["incidents"] // 10),
        "first": None,  # the first new incident's id, once they are written
        "events": counts["timeline_events"] - counts["big_timeline"],
        "big_events": counts["big_timeline"],
        "alerts": counts["alerts"],
        "notices": counts["notices"],
        "runs": counts["checklist_runs"],
        "integration": integration,
        "template": template,
    }
    # The long one: a P0 in the busiest month (the storm has every tenth incident).
    middle = counts["incidents"] // 2 // 10 * 10 or 1
    steps = [
        ("incidents", INCIDENTS),
        ("timeline_events", TIMELINE),
        ("big_timeline", BIG),
        ("alerts", ALERTS),
        ("notices", NOTICES),
        ("checklist_runs", RUNS),
    ]
    total = 0.0
    for name, sql in steps:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            written = cursor.rowcount
            if name == "incidents":
                cursor.execute(
                    "SELECT min(id), max(id) FROM incidents_incident WHERE id > %s", [before]
                )
                low, high = cursor.fetchone()
                if high - low + 1 != written:
                    raise SystemExit("incident ids are not contiguous: another writer?")
                params["first"] = low
                params["incident"] = low + middle - 1
                cursor.execute(
                    "UPDATE incidents_incident SET severity = 'P0', state = 'closed',"
                    " title = '決済APIの全面停止 (HighErrorRate)', dismiss_reason = ''"
                    " WHERE id = %s",
                    [params["incident"]],
                )
        took = time.perf_counter() - started
        total += took
        figures[f"{name}_rows"] = written
        figures[f"{name}_s"] = round(took, 2)
    # A history two years old has been vacuumed by autovacuum many times over: its visibility
    # map is set, so a page deep in the list is read off an index alone. Measured right after
    # the inserts, before autovacuum comes round, the same pages read every row they skip.
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    figures["vacuum_analyze_s"] = round(time.perf_counter() - started, 2)
    figures["big_incident"] = f"INC-{params['incident']}"
    figures["total_rows"] = sum(figures[f"{name}_rows"] for name, _sql in steps)
    figures["total_s"] = round(total, 2)
    return figures


def bare_insert_s(rows: int) -> float:
    """The same number of rows into a one-column temporary table: the machine's own pace."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(BARE, {"rows": rows})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1: 100,000 incidents")
    parser.add_argument("--force", action="store_true", help="add to a database with incidents")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("set DATABASE_URL to the PostgreSQL database to seed")
    if not 0 < args.scale <= 10:
        raise SystemExit("--scale must be in (0, 10]")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "seed")
    import django

    django.setup()
    reason = refuse_reason(force=args.force)
    if reason:
        raise SystemExit(f"refusing: {reason}")
    from _common import emit

    figures = seed(scale=args.scale)
    bare = bare_insert_s(figures["total_rows"])
    figures["bare_insert_s"] = round(bare, 2)
    figures["rows_per_s"] = round(figures["total_rows"] / figures["total_s"])
    figures["total_vs_bare_insert"] = round(figures["total_s"] / bare, 1)
    emit(figures)


if __name__ == "__main__":
    main()
