"""The schedules API: who is on call, the shifts of a period, overrides. Bad input is a 400
in the error shape, and nothing is written."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from auditlog.models import LogEntry

from oncall.models import Layer, Override
from oncall.resolver import shifts

from .conftest import add_layer, at

URL = "/api/v1/schedules/"


@pytest.fixture
def rota(schedule, people):
    add_layer(schedule, people[:2], shift_unit=Layer.Unit.DAYS, start_date=date(2026, 3, 2))
    return schedule


def test_responders_list_schedules_with_their_layers(api, operator, rota):
    body = api.as_user(operator).get(URL).json()
    (found,) = body["results"] if isinstance(body, dict) else body
    assert found["name"] == rota.name
    assert found["time_zone"] == "Asia/Tokyo"
    assert found["layers"][0]["members"] == ["sato", "suzuki"]


def test_oncall_answers_who_holds_the_schedule_at_an_instant(api, operator, rota):
    client = api.as_user(operator)
    body = client.get(f"{URL}{rota.pk}/oncall/", {"at": "2026-03-03T12:00:00+09:00"}).json()
    assert (body["user"], body["email"], body["source"], body["layer"]) == (
        "suzuki",
        "suzuki@x.test",
        "layer",
        "primary",
    )
    early = client.get(f"{URL}{rota.pk}/oncall/", {"at": "2026-03-01T12:00:00+09:00"}).json()
    assert (early["user"], early["source"]) == (None, "gap")


def test_shifts_are_the_resolvers(api, operator, rota):
    query = {"from": "2026-03-02T00:00:00+09:00", "to": "2026-03-05T00:00:00+09:00"}
    body = api.as_user(operator).get(f"{URL}{rota.pk}/shifts/", query).json()
    expected = shifts(rota, at("2026-03-02 00:00"), at("2026-03-05 00:00"))
    assert [(row["user"], row["source"]) for row in body] == [
        (None, "gap"),
        ("sato", "layer"),
        ("suzuki", "layer"),
        ("sato", "layer"),
    ]
    assert [
        (datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"])) for r in body
    ] == [(s.start, s.end) for s in expected]


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"from": "2026-03-02T00:00:00+09:00"},
        {"from": "yesterday", "to": "2026-03-05T00:00:00+09:00"},
        {"from": "2026-03-05T00:00:00+09:00", "to": "2026-03-02T00:00:00+09:00"},
        {"from": "2026-01-01T00:00:00+09:00", "to": "2026-12-31T00:00:00+09:00"},
        {"from": "2026-03-02T00:00:00+09:00", "to": "2026-03-03T00:00:00+09:00", "x": "1"},
    ],
)
def test_bad_periods_are_400_json(api, operator, rota, query):
    response = api.as_user(operator).get(f"{URL}{rota.pk}/shifts/", query)
    assert response.status_code == 400
    assert set(response.json()) >= {"error", "detail", "fields"}


def test_a_responder_adds_an_override_and_it_is_audited(api, operator, rota, people):
    body = {
        "user": "tanaka",
        "starts_at": "2026-03-03T09:00:00+09:00",
        "ends_at": "2026-03-03T13:00:00+09:00",
        "reason": "通院",
    }
    response = api.as_user(operator).post(f"{URL}{rota.pk}/overrides/", body, format="json")
    assert response.status_code == 201, response.json()
    override = Override.objects.get(pk=response.json()["id"])
    assert (override.user, override.created_by) == (people[3], operator)
    assert LogEntry.objects.get_for_object(override).get().actor == operator
    now = api.get(f"{URL}{rota.pk}/oncall/", {"at": "2026-03-03T10:00:00+09:00"}).json()
    assert (now["user"], now["source"]) == ("tanaka", "override")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"user": "tanaka", "starts_at": "2026-03-03T09:00:00+09:00"},
        {"user": "nobody", "starts_at": "2026-03-03T09:00:00Z", "ends_at": "2026-03-04T09:00:00Z"},
        {"user": "tanaka", "starts_at": "2026-03-04T09:00:00Z", "ends_at": "2026-03-03T09:00:00Z"},
        {"user": "tanaka", "starts_at": "2026-03-01T09:00:00Z", "ends_at": "2026-05-01T09:00:00Z"},
        {"user": 7, "starts_at": "2026-03-03T09:00:00Z", "ends_at": "2026-03-04T09:00:00Z"},
        {
            "user": "tanaka",
            "starts_at": "2026-03-03T09:00:00Z",
            "ends_at": "2026-03-04T09:00:00Z",
            "owner": "x",
        },
        ["not", "an", "object"],
    ],
)
def test_bad_overrides_are_400_json_and_write_nothing(api, operator, rota, people, body):
    response = api.as_user(operator).post(f"{URL}{rota.pk}/overrides/", body, format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()) >= {"error", "detail", "fields"}
    assert not Override.objects.exists()


def test_executives_read_but_may_not_add_overrides(api, make_user, rota):
    client = api.as_user(make_user("executives"))
    assert client.get(f"{URL}{rota.pk}/oncall/").status_code == 200
    body = {"user": "sato", "starts_at": "2026-03-03T09:00:00Z", "ends_at": "2026-03-03T10:00:00Z"}
    response = client.post(f"{URL}{rota.pk}/overrides/", body, format="json")
    assert response.status_code == 403
    assert not Override.objects.exists()
    assert api.as_user(make_user()).get(URL).status_code == 403
