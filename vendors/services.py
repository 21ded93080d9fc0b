"""The one place a vendor ticket is opened, edited or closed: permission, the incident's
lock, validation, the timeline. The audit log records each save
(AUDITLOG_INCLUDE_TRACKING_MODELS)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.base import (
    ActionNotAllowed,
    fields_allowed,
    recorded_actor,
    require_permission,
    row_change,
    row_lock,
    timeline_record,
)
from incidents.models import Incident, TimelineEvent

from .models import Vendor, VendorTicket

TICKET_FIELDS = ("reference", "note")


def _describe(ticket: VendorTicket) -> str:
    return f"{ticket.vendor.name}: {ticket.reference}"


@transaction.atomic
def vendor_ticket_open(
    *,
    incident: Incident,
    vendor: Vendor,
    reference: str,
    actor: AbstractBaseUser | AnonymousUser,
    note: str = "",
    opened_at: datetime | None = None,
) -> VendorTicket:
    """Record a ticket opened with a vendor: on the incident's timeline, as `actor`."""
    require_permission(actor, "vendors.add_vendorticket")
    incident = row_lock(incident)  # one writer per incident: a retried request finds the first
    if VendorTicket.objects.filter(
        incident=incident, vendor=vendor, reference=reference.strip()
    ).exists():
        raise ValidationError(
            {"reference": [_("This ticket is already recorded on the incident.")]}
        )
    opened_at = opened_at or timezone.now()
    # A ticket about this incident: not before it was detected, not in the future (a typo).
    if not incident.detected_at <= opened_at <= timezone.now():
        raise ValidationError(
            {"opened_at": [_("A vendor ticket is opened between detection and now.")]}
        )
    ticket = VendorTicket(
        incident=incident,
        vendor=vendor,
        reference=reference.strip(),
        note=note.strip(),
        opened_at=opened_at,
        opened_by=recorded_actor(actor),
    )
    ticket.full_clean()
    ticket.save()
    timeline_record(
        incident=incident,
        kind=TimelineEvent.Kind.VENDOR_TICKET_OPENED,
        actor=actor,
        message=_describe(ticket),
        data={"ticket": ticket.pk, "vendor": vendor.key, "reference": ticket.reference},
    )
    return ticket


@transaction.atomic
def vendor_ticket_update(
    *, ticket: VendorTicket, actor: AbstractBaseUser | AnonymousUser, **changes: Any
) -> VendorTicket:
    """Correct a ticket's reference or note (a typo in the number)."""
    require_permission(actor, "vendors.change_vendorticket")
    changes = fields_allowed(TICKET_FIELDS, changes)
    return row_change(ticket, {name: str(value).strip() for name, value in changes.items()})


@transaction.atomic
def vendor_ticket_close(
    *, ticket: VendorTicket, actor: AbstractBaseUser | AnonymousUser, note: str = ""
) -> VendorTicket:
    """The vendor answered or the ticket is no longer needed; closing twice is a 409."""
    require_permission(actor, "vendors.close_vendorticket")
    ticket = row_lock(ticket, related=["vendor", "incident"])
    if ticket.status == VendorTicket.Status.CLOSED:
        raise ActionNotAllowed(
            _("This vendor ticket is already closed."), action="close", state=ticket.status
        )
    ticket.status = VendorTicket.Status.CLOSED
    ticket.closed_at = timezone.now()
    ticket.closed_by = recorded_actor(actor)
    ticket.save()
    timeline_record(
        incident=ticket.incident,
        kind=TimelineEvent.Kind.VENDOR_TICKET_CLOSED,
        actor=actor,
        message=" — ".join(part for part in (_describe(ticket), note.strip()) if part),
        data={"ticket": ticket.pk, "vendor": ticket.vendor.key, "reference": ticket.reference},
    )
    return ticket
