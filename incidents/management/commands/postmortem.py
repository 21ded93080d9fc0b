from django.core.management.base import BaseCommand, CommandError

from incidents import postmortems, selectors


class Command(BaseCommand):
    help = "Write the postmortem report of an incident into POSTMORTEM_DIR (or print it)."

    def add_arguments(self, parser):
        parser.add_argument("key", help="INC-<n>")
        parser.add_argument(
            "--stdout", action="store_true", dest="print_only", help="print instead of writing"
        )
        parser.add_argument("--language", choices=["ja", "en"], default=None)

    def handle(self, *args, key, print_only, language, **options):
        incident = selectors.incident_by_key(key.upper())
        if incident is None:
            raise CommandError(f"no incident {key}")
        if print_only:
            self.stdout.write(
                postmortems.report_render(incident=incident, language=language), ending=""
            )
            return
        path = postmortems.report_write(incident=incident, language=language)
        self.stdout.write(str(path))
