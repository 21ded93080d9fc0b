from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ops.reports import Month, ops_report_write


class Command(BaseCommand):
    help = "Write the monthly operations report (default: last month, JST) into OPS_REPORT_DIR."

    def add_arguments(self, parser):
        parser.add_argument("--month", help="YYYY-MM")
        parser.add_argument("--language", choices=["ja", "en"], default=None)

    def handle(self, *args, month, language, **options):
        try:
            chosen = Month.parse(month) if month else Month.previous_of(timezone.now())
        except ValueError as err:
            raise CommandError(f"--month must be YYYY-MM: {err}") from err
        self.stdout.write(str(ops_report_write(month=chosen, language=language)))
