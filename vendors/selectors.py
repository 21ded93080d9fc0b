"""What the incident's doors read about vendors: who to contact for the affected service, and
the tickets opened. Called by the escalation notice, the postmortem, the admin and chat."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from incidents.models import Incident

from .models import Vendor, VendorTicket, service_name


def vendors_for_service(service: str) -> list[Vendor]:
    """The active vendors that list `service` among their dependent services, by name."""
    if not service.strip():
        return []
    wanted = service_name(service)
    # A handful of rows: matched here, the same on PostgreSQL and the embedded SQLite.
    return [v for v in Vendor.objects.filter(is_active=True) if wanted in v.services]


def incident_vendor_tickets(incident: Incident) -> QuerySet[VendorTicket]:
    return (
        VendorTicket.objects.filter(incident=incident)
        .select_related("vendor", "opened_by", "closed_by")
        .order_by("opened_at", "pk")
    )


def incident_vendor_contacts(incident: Incident) -> list[dict[str, Any]]:
    """The affected service's vendors with how to reach them, and the tickets already open
    with each (so a responder adds to a ticket rather than opening a second one)."""
    tickets = [t for t in incident_vendor_tickets(incident) if t.status == t.Status.OPEN]
    return [
        {
            "vendor": vendor,
            "name": vendor.name,
            "provides": vendor.provides,
            "channel": vendor.support_channel,
            "url": vendor.support_url,
            "plan": vendor.plan,
            "contact": vendor.contact,
            "open_tickets": [t.reference for t in tickets if t.vendor_id == vendor.pk],
        }
        for vendor in vendors_for_service(incident.service)
    ]


def postmortem_vendor_tickets(incident: Incident) -> dict[str, Any]:
    """The postmortem's vendor section: every ticket, in the order they were opened."""
    return {"vendor_tickets": list(incident_vendor_tickets(incident))}
