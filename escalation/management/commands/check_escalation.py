"""Warn about escalation levels that would notify nobody; `make setup` runs it last."""

from django.core.management.base import BaseCommand, CommandError

from escalation.selectors import policies_unreached


class Command(BaseCommand):
    help = "List escalation levels that would notify nobody now (exit 1 with --strict)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--strict", action="store_true", help="Fail when any level reaches nobody."
        )

    def handle(self, *args, strict=False, **options):
        warnings = policies_unreached()
        for warning in warnings:
            self.stdout.write(self.style.WARNING(f"escalation: {warning}"))
        if warnings and strict:
            raise CommandError("some escalation levels would notify nobody")
        if not warnings:
            self.stdout.write("escalation: every level of every policy reaches someone")
