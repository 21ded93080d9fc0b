from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.roles import load_roles
from checklists.defaults import load_checklist_defaults


class Command(BaseCommand):
    help = "Create or refresh the runbook's defaults (roles, policies, checklists). Idempotent."

    @transaction.atomic
    def handle(self, *args, **options):
        roles = load_roles()
        self.stdout.write(f"roles: {', '.join(roles)}")
        created = load_checklist_defaults()
        self.stdout.write(
            "checklists: {templates} templates, {known_problems} known problems, "
            "{schedules} beat tasks created".format(**created)
        )
