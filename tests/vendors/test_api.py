"""Vendor tickets through the API: recorded on the incident, its timeline and the audit log;
bad input is a 4xx JSON that writes nothing; each role may do what its permissions say."""

import datetime as dt

import pytest
from auditlog.models import LogEntry
from django.utils import timezone

from incidents.models import TimelineEvent
from vendors.models import VendorTicket


@pytest.fixture
def incident(declare):
    return declare(title="DB接続数の枯渇", service="database")


def url(incident, rest=""):
    return f"/api/v1/incidents/{incident.key}/vendor-tickets/{rest}"


def written():
    return (
        VendorTicket.objects.count(),
        TimelineEvent.objects.filter(kind__startswith="vendor_ticket").count(),
        LogEntry.objects.count(),
    )


def test_a_responder_records_a_ticket_and_sees_it_on_the_incident(api, operator, incident):
    client = api.as_user(operator)

    response = client.post(
        url(incident), {"vendor": "supabase", "reference": "SUP-1", "note": "接続上限"}, "json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["vendor"], body["reference"], body["status"]) == ("supabase", "SUP-1", "open")
    assert body["opened_by"] == operator.username
    event = incident.timeline.get(kind=TimelineEvent.Kind.VENDOR_TICKET_OPENED)
    assert (event.actor, event.message) == (operator, "Supabase: SUP-1")
    entry = LogEntry.objects.get_for_object(VendorTicket.objects.get()).get()
    assert entry.actor == operator
    listed = client.get(url(incident)).json()
    assert [t["reference"] for t in listed] == ["SUP-1"]


def test_closing_a_ticket_records_who_and_when_and_twice_is_a_409(api, operator, incident):
    client = api.as_user(operator)
    ticket = client.post(url(incident), {"vendor": "vercel", "reference": "42"}, "json").json()

    closed = client.post(url(incident, f"{ticket['id']}/close/"), {"note": "解決"}, "json")
    again = client.post(url(incident, f"{ticket['id']}/close/"), {}, "json")

    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert closed.json()["closed_by"] == operator.username
    assert incident.timeline.filter(kind=TimelineEvent.Kind.VENDOR_TICKET_CLOSED).count() == 1
    assert again.status_code == 409
    assert set(again.json()) >= {"error", "detail", "fields"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"reference": "SUP-1"}, "vendor"),
        ({"vendor": "nobody", "reference": "SUP-1"}, "vendor"),
        ({"vendor": "supabase"}, "reference"),
        ({"vendor": "supabase", "reference": ""}, "reference"),
        ({"vendor": "supabase", "reference": 42}, "reference"),
        ({"vendor": "supabase", "reference": "x" * 201}, "reference"),
        ({"vendor": "supabase", "reference": "SUP-1", "status": "closed"}, "status"),
        ({"vendor": "supabase", "reference": "SUP-1", "opened_at": "yesterday"}, "opened_at"),
        ({"vendor": "cdn", "reference": "SUP-1", "opened_at": "2001-01-01T00:00Z"}, "opened_at"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(
    api, operator, incident, payload, field
):
    before = written()

    response = api.as_user(operator).post(url(incident), payload, "json")

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid" and field in response.json()["fields"]
    assert written() == before


def test_the_same_ticket_twice_is_a_400_and_the_first_stays(api, operator, incident):
    client = api.as_user(operator)
    client.post(url(incident), {"vendor": "supabase", "reference": "SUP-1"}, "json")
    before = written()

    response = client.post(url(incident), {"vendor": "supabase", "reference": " SUP-1 "}, "json")

    assert response.status_code == 400 and "reference" in response.json()["fields"]
    assert written() == before


def test_a_ticket_opened_in_the_future_is_refused(api, operator, incident):
    later = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    payload = {"vendor": "supabase", "reference": "SUP-1", "opened_at": later}

    response = api.as_user(operator).post(url(incident), payload, "json")

    assert response.status_code == 400 and "opened_at" in response.json()["fields"]
    assert not VendorTicket.objects.exists()


def test_executives_read_tickets_but_may_not_record_or_close_them(
    api, make_user, operator, incident
):
    ticket = api.as_user(operator).post(url(incident), {"vendor": "cdn", "reference": "7"}, "json")
    executive = api.as_user(make_user("executives"))
    before = written()

    listed = executive.get(url(incident))
    opened = executive.post(url(incident), {"vendor": "cdn", "reference": "8"}, "json")
    closed = executive.post(url(incident, f"{ticket.json()['id']}/close/"), {}, "json")

    assert listed.status_code == 200 and len(listed.json()) == 1
    assert opened.status_code == 403 and opened.json()["error"] == "permission_denied"
    assert closed.status_code == 403
    assert written() == before


def test_without_a_role_or_a_token_nothing_is_read_or_written(api, make_user, incident):
    assert api.get(url(incident)).status_code == 401
    nobody = api.as_user(make_user())
    assert nobody.get(url(incident)).status_code == 403
    response = nobody.post(url(incident), {"vendor": "cdn", "reference": "8"}, "json")
    assert response.status_code == 403 and not VendorTicket.objects.exists()


def test_an_unknown_incident_or_ticket_is_a_404(api, operator, incident, declare):
    client = api.as_user(operator)
    other = declare(title="別件")
    ticket = client.post(url(other), {"vendor": "cdn", "reference": "1"}, "json").json()

    assert client.get("/api/v1/incidents/INC-999999/vendor-tickets/").status_code == 404
    response = client.post(url(incident, f"{ticket['id']}/close/"), {}, "json")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert VendorTicket.objects.get().status == "open"


def test_vendors_are_listed_with_how_to_reach_them(api, make_user):
    response = api.as_user(make_user("executives")).get("/api/v1/vendors/vercel/")

    assert response.status_code == 200
    assert response.json()["support_url"] == "https://vercel.com/help"
