"""Warn about escalation levels that would notify nobody, and about periods of the next 14
days in which a schedule has nobody on call; `make setup` runs it last."""

from django.core.management.base import BaseCommand, CommandError

from escalation.selectors import policies_unreached
from oncall.selectors import gap_warnings


class Command(BaseCommand):
    help = "List escalation levels that would notify nobody now (exit 1 with --strict)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--strict",
            action="store_true",
            help="Fail when any level reaches nobody or a schedule has a gap.",
        )

    def handle(self, *args, strict=False, **options):
        warnings = policies_unreached()
        for warning in warnings:
            self.stdout.write(self.style.WARNING(f"escalation: {warning}"))
        gaps = gap_warnings()
        for warning in gaps:
            self.stdout.write(self.style.WARNING(f"oncall: {warning}"))
        if (warnings or gaps) and strict:
            raise CommandError("some escalation levels would notify nobody")
        if not warnings:
            self.stdout.write("escalation: every level of every policy reaches someone")
        if not gaps:
            self.stdout.write("oncall: somebody is on call on every schedule for 14 days")
