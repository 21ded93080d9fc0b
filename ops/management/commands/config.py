"""`manage.py config export|apply|schema`: Hikeshi's configuration as a YAML file (ops.configcode).

Exit codes: 0 done (or, with --check, in sync); 1 with --check when the database has drifted
from the file (the diff is printed); 2 when the file is refused (each problem with its path in
the file) or the actor may not make a change; nothing is written then.
"""

import contextlib
import sys
from pathlib import Path

from auditlog.context import set_actor
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from config.base import SYSTEM
from ops.configcode import (
    ConfigError,
    config_apply,
    config_export,
    config_export_markdown,
    config_plan,
    config_read,
    schema_text,
)

REFUSED = 2
DRIFTED = 1


class Command(BaseCommand):
    help = (
        "Configuration as code: export the configuration as YAML (and the checklists as "
        "Markdown), apply a file (showing its diff first), check a file against the database "
        "or print the file's JSON Schema."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        export = actions.add_parser("export", help="Write the configuration as YAML to stdout.")
        export.add_argument(
            "--markdown", metavar="DIR", help="Also write each checklist template as DIR/<key>.md."
        )
        apply = actions.add_parser("apply", help="Show the diff a file makes, and apply it.")
        apply.add_argument("file")
        apply.add_argument(
            "--check",
            action="store_true",
            help="Write nothing: exit 1 with the diff when the database differs, 0 in sync.",
        )
        apply.add_argument(
            "--prune",
            action="store_true",
            help="Delete what the file does not mention (integrations never are).",
        )
        apply.add_argument(
            "--as",
            dest="username",
            default="",
            help="The user the changes are made (and audited) as; default: the system.",
        )
        actions.add_parser("schema", help="Print the file's JSON Schema.")

    def handle(self, *args, action, **options):
        if action == "schema":
            self.stdout.write(schema_text(), ending="")
        elif action == "export":
            self.stdout.write(config_export(), ending="")
            if options["markdown"]:
                for path in config_export_markdown(Path(options["markdown"])):
                    self.stderr.write(f"wrote {path}")
        else:
            self._apply(**options)

    def _actor(self, username: str):
        if not username:
            return SYSTEM
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"--as: no active user {username!r}", returncode=REFUSED)
        return user

    def _apply(self, *, file, check, prune, username, **options):
        actor = self._actor(username)
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except OSError as error:
            raise CommandError(f"{file}: {error.strerror}", returncode=REFUSED) from None
        try:
            desired = config_read(text)
            if check:
                plan = config_plan(desired, prune=prune)
                self.stdout.write(plan.render(), ending="")
                if plan.changes:
                    raise CommandError(
                        f"{len(plan.changes)} object(s) differ from {file}", returncode=DRIFTED
                    )
                return
            audited = set_actor(actor) if actor.is_authenticated else contextlib.nullcontext()
            with audited:
                plan, notes = config_apply(desired=desired, actor=actor, prune=prune)
        except ConfigError as error:
            raise CommandError(
                f"{file} refused, nothing written:\n{error}", returncode=REFUSED
            ) from None
        except PermissionDenied as error:
            raise CommandError(f"nothing written: {error}", returncode=REFUSED) from None
        self.stdout.write(plan.render(), ending="")
        for note in notes:
            self.stdout.write(note)
        self.stderr.write(f"{len(plan.changes)} object(s) changed")
