from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EscalationConfig(AppConfig):
    name = "escalation"
    verbose_name = _("Escalation")

    def ready(self):
        from auditlog.registry import auditlog

        from incidents import postmortems, signals
        from ops import reports as ops_reports

        from . import models, receivers, selectors

        uid = "escalation"
        signals.incident_declared.connect(receivers.on_declared, dispatch_uid=uid)
        signals.incident_transitioned.connect(receivers.on_transitioned, dispatch_uid=uid)
        signals.incident_severity_changed.connect(receivers.on_severity_changed, dispatch_uid=uid)
        signals.incident_updated.connect(receivers.on_updated, dispatch_uid=uid)
        postmortems.report_context_providers.append(selectors.postmortem_escalations)
        ops_reports.report_context_providers.append(selectors.monthly_escalations)
        auditlog.register(models.Team, m2m_fields={"members"})
        auditlog.register(models.EscalationPolicy)
        auditlog.register(models.EscalationLevel, m2m_fields={"teams", "users"})
