from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from config.base import SYSTEM
from integrations.models import Integration
from integrations.services import integration_create


class Command(BaseCommand):
    help = "Create an integration and print its secret once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("--kind", required=True, choices=Integration.Kind.values)
        parser.add_argument("--name", required=True)
        parser.add_argument("--policy", default="", help="escalation policy name")
        parser.add_argument("--no-auto-resolve", action="store_true")

    def handle(self, *args, kind, name, policy, no_auto_resolve, **options):
        try:
            integration, secret = integration_create(
                name=name,
                kind=kind,
                actor=SYSTEM,  # whoever runs manage.py holds the keys already
                policy=policy,
                auto_resolve=not no_auto_resolve,
            )
        except ValidationError as err:
            raise CommandError("; ".join(err.messages)) from err
        self.stderr.write(f"{integration.name}: POST {integration.endpoint_path()}")
        self.stdout.write(secret)
