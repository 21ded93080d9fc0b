"""/api/v1/escalation-policies/ and /api/v1/teams/: managers only; policies are data."""

import pytest

from escalation.models import EscalationPolicy, Team

URL = "/api/v1/escalation-policies/"

POLICY = {
    "name": "security",
    "is_default": False,
    "stop_on": "acknowledged",
    "severities": ["P0", "P1"],
    "categories": ["security"],
    "levels": [
        {
            "number": 1,
            "name": "SOC",
            "delay_seconds": 0,
            "min_severity": None,
            "teams": ["operations"],
            "emails": ["soc@x.test"],
        },
        {
            "number": 2,
            "name": "CISO",
            "delay_seconds": 5,
            "min_severity": "P0",
            "teams": [],
            "emails": ["ciso@x.test"],
        },
    ],
}


@pytest.fixture
def manager(make_user):
    return make_user("managers")


def test_a_manager_creates_a_policy_that_new_incidents_then_follow(api, manager, declare):
    response = api.as_user(manager).post(URL, POLICY, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["levels"][1]["delay_seconds"] == 5 and body["levels"][0]["teams"] == ["operations"]

    assert declare(severity="P0", category="security").policy.name == "security"
    assert declare(severity="P2", category="security").policy.name == "runbook"


def test_responders_may_not_read_or_change_policies(api, operator):
    client = api.as_user(operator)
    assert client.get(URL).status_code == 403
    assert client.post(URL, POLICY, format="json").status_code == 403
    assert client.get("/api/v1/teams/").status_code == 403


@pytest.mark.parametrize(
    "levels, field",
    [
        (
            [
                {"number": 2, "name": "a", "delay_seconds": 60},
                {"number": 3, "name": "b", "delay_seconds": 30},
            ],
            "levels",
        ),
        (
            [
                {"number": 1, "name": "a", "delay_seconds": 0},
                {"number": 1, "name": "b", "delay_seconds": 0},
            ],
            "levels",
        ),
        ([{"number": 5, "name": "a", "delay_seconds": 0}], "levels"),
        ([{"number": 1, "name": "a", "delay_seconds": 0, "teams": ["nobody"]}], "levels"),
    ],
)
def test_levels_must_increase_and_never_fire_earlier(api, manager, levels, field):
    response = api.as_user(manager).post(URL, POLICY | {"levels": levels}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid" and field in response.json()["fields"]


def test_simulate_shows_the_planned_timeline(api, manager):
    policy = EscalationPolicy.objects.get(name="runbook")
    client = api.as_user(manager)
    p0 = client.get(f"{URL}{policy.pk}/simulate/?severity=P0&category=system").json()
    p2 = client.get(f"{URL}{policy.pk}/simulate/?severity=P2").json()
    assert [(r["level"], r["offset_seconds"]) for r in p0] == [
        (1, 0),
        (2, 900),
        (3, 3600),
        (4, 3600),
    ]
    assert [r["level"] for r in p2] == [1, 2, 3]
    assert {r["delivery"] for r in p0} == {"immediate"} and {r["delivery"] for r in p2} == {
        "hourly"
    }
    assert p0[2]["recipients"] == ["admin@luxucare.co.jp"]
    assert client.get(f"{URL}{policy.pk}/simulate/?severity=P9").status_code == 400


@pytest.mark.parametrize(
    "at", ["0078-06-01T16:45:19Z", "1999-12-31T23:59:59Z", "9999-12-31T23:00Z"]
)
def test_a_simulation_at_a_moment_no_incident_can_have_is_400(api, manager, at):
    policy = EscalationPolicy.objects.get(name="runbook")

    response = api.as_user(manager).get(f"{URL}{policy.pk}/simulate/", {"severity": "P1", "at": at})

    assert response.status_code == 400
    assert "at" in response.json()["fields"]
    at_2000 = {"severity": "P1", "at": "2000-01-01T00:00:00Z"}
    assert api.get(f"{URL}{policy.pk}/simulate/", at_2000).status_code == 200


def test_editing_a_policy_replaces_its_levels(api, manager):
    client = api.as_user(manager)
    created = client.post(URL, POLICY, format="json").json()
    response = client.patch(
        f"{URL}{created['id']}/",
        {"levels": [{"number": 1, "name": "only", "delay_seconds": 0}]},
        format="json",
    )
    assert response.status_code == 200
    assert [lv["name"] for lv in response.json()["levels"]] == ["only"]


def test_a_second_default_policy_is_refused(api, manager):
    response = api.as_user(manager).post(URL, POLICY | {"is_default": True}, format="json")
    assert response.status_code == 400 and "is_default" in response.json()["fields"]


@pytest.mark.parametrize(
    "url, body",
    [
        (URL, POLICY | {"stop_when": "resolved"}),
        (URL, POLICY | {"levels": [POLICY["levels"][0] | {"delay": 5}]}),
        ("/api/v1/teams/", {"name": "noc", "name_ja": "NOC", "name_en": "NOC", "mail": "x@x.t"}),
    ],
    ids=["policy", "level", "team"],
)
def test_a_misspelt_field_is_400_and_creates_nothing(api, manager, url, body):
    response = api.as_user(manager).post(url, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert not EscalationPolicy.objects.filter(name="security").exists()
    assert not Team.objects.filter(name="noc").exists()


@pytest.mark.parametrize("missing", ["number", "name", "delay_seconds"])
def test_a_patch_replaces_levels_whole_so_each_needs_all_its_fields(api, manager, missing):
    """A PATCH makes a policy's own fields optional, never a level's: once a KeyError (500)."""
    policy = EscalationPolicy.objects.get(name="runbook")
    levels = [lv.number for lv in policy.levels.all()]
    level = {"number": 1, "name": "only", "delay_seconds": 0}
    del level[missing]

    response = api.as_user(manager).patch(f"{URL}{policy.pk}/", {"levels": [level]}, format="json")

    assert response.status_code == 400
    [message] = response.json()["fields"]["levels"]
    assert message.startswith(f"0.{missing}: ")
    assert [lv.number for lv in policy.levels.all()] == levels
