from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = _("Incidents")

    def ready(self):
        from auditlog.registry import auditlog

        from . import models

        # The postmortem is the reverse side of its own audited one-to-one: reading it for
        # every diff cost a query per change and recorded nothing.
        auditlog.register(models.Incident, exclude_fields=["postmortem"])
        auditlog.register(models.Postmortem)
        auditlog.register(models.ActionItem)
