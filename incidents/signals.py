"""Hooks for other apps, sent inside the service's transaction.

Receivers may write to the database (they share the transaction) but must queue any
side effect with `transaction.on_commit`.
"""

from django.dispatch import Signal

# incident, actor
incident_declared = Signal()
# incident, action, actor
incident_transitioned = Signal()
# incident, previous, actor
incident_severity_changed = Signal()
# incident, changes ({field: {from, to}}), actor
incident_updated = Signal()
