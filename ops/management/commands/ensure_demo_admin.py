import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from config.base import SYSTEM
from escalation.models import Team
from escalation.services.policies import team_update


class Command(BaseCommand):
    help = (
        "Create the demo administrator once: DJANGO_SUPERUSER_USERNAME / _PASSWORD / _EMAIL "
        "when set, else 'admin' with a generated password printed here."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin")
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"admin user: {username} (exists; password unchanged)")
            return
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or secrets.token_urlsafe(12)
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "admin@localhost")
        user = User.objects.create_superuser(username=username, email=email, password=password)
        # The runbook names no operations address: the demo admin stands in, so level 1
        # notices of a fresh install show up (in the console by default).
        for team in Team.objects.filter(name="operations"):
            team_update(team=team, actor=SYSTEM, members=[*team.members.all(), user])
        shown = password if "DJANGO_SUPERUSER_PASSWORD" not in os.environ else "(from environment)"
        self.stdout.write(f"admin user: {username}  password: {shown} (member of operations team)")
