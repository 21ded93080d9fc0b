"""`manage.py import opsgenie|grafana-oncall DIR`: a team's set-up in another tool, read from
the JSON that tool's API returned.

Exit codes: 0 imported (or, with --dry-run, reported); 2 when a dump file is missing or wrong,
or a service refused an object (nothing is written then).
"""

import contextlib
from pathlib import Path

from auditlog.context import set_actor
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from config.base import SYSTEM
from ops.importers import DumpError
from ops.importers.grafana_oncall import grafana_oncall_import
from ops.importers.opsgenie import opsgenie_import

IMPORTERS = {"opsgenie": opsgenie_import, "grafana-oncall": grafana_oncall_import}


class Command(BaseCommand):
    help = "Import users, teams, schedules, escalations and integrations from another tool's dump."

    def add_arguments(self, parser):
        parser.add_argument("source", choices=sorted(IMPORTERS))
        parser.add_argument("dump", help="The folder the README's curl commands filled.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would be made; write nothing."
        )
        parser.add_argument(
            "--as", dest="username", default="", help="Make the changes as this user (audited)."
        )

    def handle(self, *args, source, dump, dry_run, username, **options):
        actor = SYSTEM
        if username:
            actor = get_user_model().objects.filter(username=username, is_active=True).first()
            if actor is None:
                raise CommandError(f"No active user {username!r}.", returncode=2)
        folder = Path(dump)
        if not folder.is_dir():
            raise CommandError(f"{folder}: not a folder", returncode=2)
        try:
            audited = set_actor(actor) if actor.is_authenticated else contextlib.nullcontext()
            with audited:
                report = IMPORTERS[source](folder, actor=actor, dry_run=dry_run)
        except DumpError as error:
            raise CommandError(str(error), returncode=2) from None
        except (ValidationError, PermissionDenied) as error:
            raise CommandError(f"refused, nothing written: {error}", returncode=2) from None
        for line in report.lines():
            self.stdout.write(line)
        if dry_run:
            self.stdout.write("dry run: nothing was written")
