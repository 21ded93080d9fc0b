from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChecklistsConfig(AppConfig):
    name = "checklists"
    verbose_name = _("Checklists")

    def ready(self):
        from auditlog.registry import auditlog

        from incidents import postmortems, signals
        from incidents.models import close_requirements
        from ops import reports as ops_reports

        from . import models, receivers, reports, selectors

        close_requirements.append(selectors.incident_missing_items)
        postmortems.report_context_providers.append(reports.postmortem_checklists)
        ops_reports.report_context_providers.append(reports.monthly_completion)
        signals.incident_declared.connect(receivers.attach_on_declare, dispatch_uid="checklists")
        signals.incident_updated.connect(receivers.attach_on_change, dispatch_uid="checklists")
        signals.incident_severity_changed.connect(
            receivers.attach_on_change, dispatch_uid="checklists"
        )
        auditlog.register(models.ChecklistTemplate)
        auditlog.register(models.TemplateItem)
        auditlog.register(models.KnownProblem)
