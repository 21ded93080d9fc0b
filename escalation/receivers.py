"""Signal receivers: run inside the incident services' transaction, which holds the row lock."""

from incidents.models import Action

from . import services
from .models import Escalation


def on_declared(sender, *, incident, extra=None, **kwargs):
    # `extra["policy"]`: a name from the API or an integration; empty: chosen automatically.
    services.escalation_start(incident=incident, policy_name=(extra or {}).get("policy") or "")


def on_transitioned(sender, *, incident, action, **kwargs):
    # Stop at the policy's stop state; a reopened incident picks up where its plan stands.
    reason = Escalation.Reason.DEADLINE
    if action == Action.REOPEN or incident.next_escalation_at is not None:
        services.escalation_reschedule(incident=incident, reason=reason)


def on_severity_changed(sender, *, incident, previous, **kwargs):
    # Raised: a level that now applies and whose deadline passed fires at once (P0 → L4).
    # Lowered: only ever removes levels from the plan, never adds one.
    services.escalation_reschedule(incident=incident, reason=Escalation.Reason.SEVERITY)


def on_updated(sender, *, incident, changes, **kwargs):
    if "detected_at" in changes:
        services.escalation_reschedule(incident=incident)
