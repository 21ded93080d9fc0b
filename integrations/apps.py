from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("Integrations")

    def ready(self):
        from auditlog.registry import auditlog

        from . import models

        auditlog.register(models.Integration, exclude_fields=["secret_hash"])
