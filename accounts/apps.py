from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("People and roles")

    def ready(self):
        from auditlog.registry import auditlog
        from django.contrib.auth.models import Group, User

        from . import schema  # noqa: F401  (registers the OpenAPI auth scheme)
        from .models import Profile

        auditlog.register(User, exclude_fields=["password", "last_login"])
        auditlog.register(Group, m2m_fields={"permissions"})
        auditlog.register(User.groups.through)
        auditlog.register(Profile)
