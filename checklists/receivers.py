"""Signal receivers: run inside the incident service's transaction."""

from . import services


def attach_on_declare(sender, *, incident, **kwargs):
    services.checklist_runs_attach(incident=incident, declared=True)


def attach_on_change(sender, *, incident, **kwargs):
    # A new severity or category can match more templates (e.g. recategorised as security).
    if incident.is_active:
        services.checklist_runs_attach(incident=incident)
