from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("Integrations")

    def ready(self):
        from auditlog.registry import auditlog
        from django.db.models.signals import post_delete, post_save

        from . import models, services

        auditlog.register(models.Integration, exclude_fields=["secret_hash"])
        for signal in (post_save, post_delete):
            signal.connect(services.integration_secrets_forget, sender=models.Integration)
