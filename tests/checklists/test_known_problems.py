"""Known problems (よくある問題と解決法) are suggested for an incident, best match first."""

import pytest

from checklists.models import KnownProblem


@pytest.mark.parametrize(
    ("title", "summary", "expected"),
    [
        ("組織作成で500エラー", "DATABASE_ERROR が返る", "organization-creation-error"),
        ("ログインできない", "APIが 401 Unauthorized を返す", "authentication-error"),
        ("API応答時間が2秒を超過", "管理画面が遅い", "slow-response"),
        (
            "Creating an organisation fails",
            "HTTP 500 with DATABASE_ERROR",
            "organization-creation-error",
        ),
        ("Users are logged out", "every request answers 401 Unauthorized", "authentication-error"),
        ("Slow API", "response time above 2 seconds on the dashboard", "slow-response"),
        ("組織作成が失敗", "５００ エラー", "organization-creation-error"),
    ],
)
def test_the_matching_runbook_entry_is_ranked_first(
    api, declare, operator, title, summary, expected
):
    incident = declare(title=title, summary=summary)

    response = api.as_user(operator).get(f"/api/v1/incidents/{incident.key}/known-problems/")

    assert response.status_code == 200
    assert response.json()[0]["key"] == expected
    assert response.json()[0]["resolution_ja"]


def test_an_unrelated_incident_gets_no_suggestion(api, declare, operator):
    incident = declare(title="ディスク容量不足", summary="")

    assert (
        api.as_user(operator).get(f"/api/v1/incidents/{incident.key}/known-problems/").json() == []
    )


def test_an_edited_known_problem_is_matched_on_its_new_keywords(api, declare, operator):
    problem = KnownProblem.objects.get(key="authentication-error")
    problem.keywords += ", SSO"
    problem.save()
    incident = declare(title="SSO で入れない", summary="")

    response = api.as_user(operator).get(f"/api/v1/incidents/{incident.key}/known-problems/")

    assert response.json()[0]["key"] == "authentication-error"


def test_on_postgresql_full_text_search_finds_words_beyond_the_keywords(api, declare, operator):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("full-text search is PostgreSQL's; SQLite matches keywords only")
    incident = declare(title="Memory usage keeps climbing on api-2", summary="")

    response = api.as_user(operator).get(f"/api/v1/incidents/{incident.key}/known-problems/")

    assert [p["key"] for p in response.json()] == ["slow-response"]
    assert 0 < response.json()[0]["score"] < 1
