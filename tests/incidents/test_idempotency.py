import pytest

from incidents.models import Incident

URL = "/api/v1/incidents/"
BODY = {"title": "ログイン不可", "severity": "P1"}


@pytest.fixture
def client(api, operator):
    return api.as_user(operator)


def test_a_retry_with_the_same_idempotency_key_returns_the_same_incident(client):
    first = client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="alert-123")
    retry = client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="alert-123")

    assert (first.status_code, retry.status_code) == (201, 200)
    assert first.json()["key"] == retry.json()["key"]
    assert Incident.objects.count() == 1


def test_a_different_key_declares_a_second_incident(client):
    client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="a")
    client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="b")
    assert Incident.objects.count() == 2


def test_keys_belong_to_their_client(api, make_user):
    one = api.as_user(make_user("operations")).post(
        URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="same"
    )
    other = api.as_user(make_user("operations")).post(
        URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="same"
    )
    assert other.status_code == 201
    assert one.json()["key"] != other.json()["key"]


def test_a_rejected_request_does_not_consume_the_key(client):
    bad = client.post(URL, {"title": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    good = client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert (bad.status_code, good.status_code) == (400, 201)
