"""Vendors and tickets in the admin: the incident's page lists who to contact and records
tickets through the services (timeline, audit, permission), as the API does."""

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import PermissionDenied

from incidents.models import TimelineEvent
from tests.admin_forms import form_for
from vendors.models import Vendor, VendorTicket
from vendors.services import vendor_ticket_close, vendor_ticket_open

INCIDENTS = "/admin/incidents/incident"
TICKETS = "/admin/vendors/vendorticket"


@pytest.fixture
def incident(declare):
    return declare(title="DB接続不可", service="database")


@pytest.fixture
def supabase():
    return Vendor.objects.get(key="supabase")


def ticket_rows(*rows, initial=0):
    data = {
        "vendor_tickets-TOTAL_FORMS": str(len(rows)),
        "vendor_tickets-INITIAL_FORMS": str(initial),
    }
    for n, row in enumerate(rows):
        data |= {f"vendor_tickets-{n}-{name}": value for name, value in row.items()}
    return data


def test_the_incident_page_lists_the_services_vendors_with_how_to_reach_them(
    client, operator, incident
):
    client.force_login(operator)

    page = client.get(f"{INCIDENTS}/{incident.pk}/change/").content.decode()

    assert "ダッシュボード内サポート" in page
    assert 'href="https://supabase.com/dashboard/support/new"' in page
    assert "vercel.com/help" not in page


def test_a_ticket_added_on_the_incident_page_is_recorded_through_the_service(
    client, operator, incident, supabase
):
    client.force_login(operator)
    row = {"incident": incident.pk, "vendor": supabase.pk, "reference": "SUP-5", "status": "open"}

    response = client.post(
        f"{INCIDENTS}/{incident.pk}/change/", form_for(incident, **ticket_rows(row))
    )

    assert response.status_code == 302, response.content[:2000]
    ticket = VendorTicket.objects.get()
    assert (ticket.reference, ticket.opened_by) == ("SUP-5", operator)
    event = incident.timeline.get(kind=TimelineEvent.Kind.VENDOR_TICKET_OPENED)
    assert event.actor == operator
    assert LogEntry.objects.get_for_object(ticket).get().actor == operator


def test_setting_a_row_to_closed_closes_the_ticket_and_a_closed_one_stays_closed(
    client, operator, incident, supabase
):
    ticket = vendor_ticket_open(incident=incident, vendor=supabase, reference="S", actor=operator)
    client.force_login(operator)
    row = {
        "id": ticket.pk,
        "incident": incident.pk,
        "vendor": supabase.pk,
        "reference": "S",
        "status": "closed",
    }
    change = f"{INCIDENTS}/{incident.pk}/change/"

    closed = client.post(change, form_for(incident, **ticket_rows(row, initial=1)))
    reopened = client.post(
        change, form_for(incident, **ticket_rows(row | {"status": "open"}, initial=1))
    )

    assert closed.status_code == 302
    ticket.refresh_from_db()
    assert (ticket.status, ticket.closed_by) == ("closed", operator)
    assert incident.timeline.filter(kind=TimelineEvent.Kind.VENDOR_TICKET_CLOSED).count() == 1
    assert reopened.status_code == 200  # the page again, with the row's error
    assert VendorTicket.objects.get().status == "closed"


def test_a_recorded_ticket_keeps_its_vendor(client, operator, incident, supabase):
    ticket = vendor_ticket_open(incident=incident, vendor=supabase, reference="S", actor=operator)
    client.force_login(operator)
    row = {
        "id": ticket.pk,
        "incident": incident.pk,
        "vendor": Vendor.objects.get(key="vercel").pk,
        "reference": "S",
        "status": "open",
    }

    response = client.post(
        f"{INCIDENTS}/{incident.pk}/change/", form_for(incident, **ticket_rows(row, initial=1))
    )

    assert response.status_code == 200  # the page again, with the row's error
    assert VendorTicket.objects.get().vendor == supabase


def test_the_ticket_list_adds_through_the_service_and_closes_in_bulk(
    client, operator, incident, supabase
):
    client.force_login(operator)
    form = {"incident": incident.pk, "vendor": supabase.pk, "reference": "SUP-9", "note": ""}

    added = client.post(f"{TICKETS}/add/", form)
    ticket = VendorTicket.objects.get()
    bulk = client.post(f"{TICKETS}/", {"action": "close_tickets", "_selected_action": [ticket.pk]})

    assert added.status_code == 302
    assert incident.timeline.filter(kind=TimelineEvent.Kind.VENDOR_TICKET_OPENED).exists()
    assert bulk.status_code == 302
    assert VendorTicket.objects.get().status == "closed"


def test_executives_see_tickets_but_may_not_add_or_close_them(
    client, make_user, operator, incident, supabase
):
    ticket = vendor_ticket_open(incident=incident, vendor=supabase, reference="S", actor=operator)
    client.force_login(make_user("executives"))
    form = {"incident": incident.pk, "vendor": supabase.pk, "reference": "X", "note": ""}

    assert client.get(f"{TICKETS}/").status_code == 200
    assert client.post(f"{TICKETS}/add/", form).status_code == 403
    client.post(f"{TICKETS}/", {"action": "close_tickets", "_selected_action": [ticket.pk]})

    assert list(VendorTicket.objects.values_list("reference", "status")) == [("S", "open")]


def test_a_vendor_edited_in_the_admin_is_audited_with_its_services_normalised(
    client, make_user, supabase
):
    manager = make_user("managers")
    client.force_login(manager)
    form = {
        "key": supabase.key,
        "name": supabase.name,
        "is_active": "on",
        "services": '["Database", " backup ", "Storage"]',
        "provides_ja": supabase.provides_ja,
        "provides_en": supabase.provides_en,
        "support_channel_ja": supabase.support_channel_ja,
        "support_channel_en": supabase.support_channel_en,
        "support_url": supabase.support_url,
        "plan": "Pro",
        "notes": "",
    }

    response = client.post(f"/admin/vendors/vendor/{supabase.pk}/change/", form)

    assert response.status_code == 302, response.content[:2000]
    supabase.refresh_from_db()
    assert (supabase.plan, supabase.services) == ("Pro", ["backup", "database", "storage"])
    assert LogEntry.objects.get_for_object(supabase).filter(actor=manager).exists()


def test_closing_through_the_service_needs_the_close_permission(make_user, incident, supabase):
    operator = make_user("operations")
    ticket = vendor_ticket_open(incident=incident, vendor=supabase, reference="S", actor=operator)

    with pytest.raises(PermissionDenied, match="vendors.close_vendorticket"):
        vendor_ticket_close(ticket=ticket, actor=make_user("executives"))
    assert VendorTicket.objects.get().status == "open"
