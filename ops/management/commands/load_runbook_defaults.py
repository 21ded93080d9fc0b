from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.roles import load_roles
from checklists.defaults import load_checklist_defaults
from config.beat import beat_task_ensure
from escalation.defaults import load_escalation_defaults
from heartbeats.defaults import load_heartbeat_defaults
from vendors.defaults import load_vendor_defaults

# 月次タスク: 運用レポート作成 — 00:10 JST on the 1st, for the month that just ended.
MONTHLY_REPORT = ("10", "0", "*", "1")


class Command(BaseCommand):
    help = (
        "Create or refresh the runbook's defaults (roles, policies, checklists, heartbeats, "
        "vendors). Idempotent."
    )

    @transaction.atomic
    def handle(self, *args, **options):
        roles = load_roles()
        self.stdout.write(f"roles: {', '.join(roles)}")
        escalation = load_escalation_defaults()
        self.stdout.write(
            "escalation: {teams} teams, {policies} policies created".format(**escalation)
        )
        created = load_checklist_defaults()
        self.stdout.write(
            "checklists: {templates} templates, {known_problems} known problems, "
            "{schedules} beat tasks created".format(**created)
        )
        heartbeats = load_heartbeat_defaults()
        self.stdout.write(
            "heartbeats: {heartbeats} created (backup, 03:00 JST)".format(**heartbeats)
        )
        vendors = load_vendor_defaults()
        self.stdout.write("vendors: {vendors} vendors created".format(**vendors))
        _, new = beat_task_ensure(
            name="ops: monthly operations report",
            task="ops.write_monthly_report",
            cron=MONTHLY_REPORT,
        )
        self.stdout.write(f"ops: monthly report beat task {'created' if new else 'kept'}")
