from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = _("Incidents")

    def ready(self):
        from auditlog.registry import auditlog

        from . import models

        auditlog.register(models.Incident)
        auditlog.register(models.Postmortem)
        auditlog.register(models.ActionItem)
