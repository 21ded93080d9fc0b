"""Hostile pings: any path under /ping/, any method, any body and content type. Every answer is
JSON and none is a 500; a refusal writes nothing, a ping to the real uuid writes one ping."""

import pytest
from django.core.cache import cache
from hypothesis import given
from hypothesis import strategies as st

from heartbeats.models import Heartbeat
from incidents.models import Incident
from tests.hostile import FUZZ, content_types, rolled_back, tally

REAL = "REAL"
paths = st.one_of(
    st.sampled_from([REAL, f"{REAL}/", f"{REAL}/start", f"{REAL}/fail/", f"{REAL}/x", ""]),
    st.text(max_size=80).map(lambda text: text.replace("?", "").replace("#", "")),
    st.uuids().map(str),
)
# Over the log's limit, and NULs and bytes that are not UTF-8 (kept short: hypothesis prints them).
bodies = st.one_of(st.binary(max_size=2048), st.just(b"a" * 10300), st.just(b"\x00\xff" * 1000))


@pytest.fixture
def heartbeat(make_heartbeat, settings):
    settings.HEARTBEAT_PING_RATE_LIMIT = "1000000/s"
    cache.clear()
    return make_heartbeat("fuzzed")


def written() -> tuple:
    return tuple(Heartbeat.objects.values_list("pings", flat=True).order_by("pk")) + (
        Incident.objects.count(),
    )


@FUZZ
@given(
    path=paths,
    method=st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE", "PATCH"]),
    body=bodies,
    content_type=content_types,
)
def test_any_ping_is_answered_in_json_and_never_a_server_error(
    client, request, heartbeat, path, method, body, content_type
):
    url = "/ping/" + path.replace(REAL, str(heartbeat.uuid))
    with rolled_back():
        before = written()
        try:
            response = client.generic(method, url, body, content_type=content_type)
        except ValueError:
            return  # the test client itself refuses (a URL it cannot build): nothing was sent
        tally(request.node, "cases")
        tally(request.node, "server_errors", int(response.status_code >= 500))
        assert response.status_code < 500, response.content[:300]
        assert response["Content-Type"] == "application/json"
        if response.status_code >= 400:
            assert written() == before
        else:
            assert sum(written()[:-1]) == sum(before[:-1]) + 1
