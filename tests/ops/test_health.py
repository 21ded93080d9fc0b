from django.db.utils import OperationalError


def test_health_is_ok_while_the_database_answers(client, db):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


def test_health_is_503_when_the_database_does_not_answer(client, db, monkeypatch):
    class Unreachable:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr("ops.views.connection", Unreachable())
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "unavailable"},
        "time": response.json()["time"],
    }
