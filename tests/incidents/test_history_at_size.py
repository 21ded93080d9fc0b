"""A long history reads as fast as a short one: the lists, the search and one incident with many
events make the same number of queries however many rows there are, search finds incidents by
key, words and alert labels, and `?cursor=` walks the list by key (bench/history.py measures the
times at 100,000 incidents)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import Alert
from config.api import PageOrCursorPagination
from config.bulk import bulk_insert, bulk_save
from incidents import admin as incident_admin
from incidents.models import Incident, State, TimelineEvent
from integrations.services import integration_create
from tests.factories import IncidentFactory

URL = "/api/v1/incidents/"
CHANGELIST = "/admin/incidents/incident/"


@pytest.fixture
def api_client(api, sysadmin):
    return api.as_user(sysadmin)


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("managers"))
    return client


@pytest.fixture
def integration(make_user):
    made, _secret = integration_create(
        name="alertmanager", kind="alertmanager", actor=make_user("managers")
    )
    return made


def alert_for(incident, integration, **labels):
    now = timezone.now()
    return Alert.objects.create(
        incident=incident,
        integration=integration,
        fingerprint=f"fp-{incident.pk}-{len(labels)}-{labels.get('alertname')}",
        status=Alert.Status.FIRING,
        severity=incident.severity,
        labels=labels,
        first_received_at=now,
        last_received_at=now,
    )


def incidents_with_history(count, *, integration, actor):
    """Incidents as a long history has them: a commander, an alert, a few events each."""
    made = []
    for n in range(count):
        incident = IncidentFactory(commander=actor, created_by=actor, state=State.TRIAGE)
        alert_for(incident, integration, alertname="HighCPU", instance=f"web-{n}:9100")
        TimelineEvent.objects.create(incident=incident, kind="note", actor=actor, at=timezone.now())
        made.append(incident)
    return made


def queries_for(client, path) -> int:
    client.get(path)  # sessions, permissions and caches warmed: only what grows is counted
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def test_the_list_api_and_its_search_make_the_same_queries_for_3_and_30_incidents(
    api_client, integration, sysadmin
):
    paths = [URL, f"{URL}?q=HighCPU", f"{URL}?cursor=", f"{URL}?severity=P1&ordering=-severity"]
    incidents_with_history(3, integration=integration, actor=sysadmin)
    few = [queries_for(api_client, path) for path in paths]

    incidents_with_history(27, integration=integration, actor=sysadmin)

    assert [queries_for(api_client, path) for path in paths] == few
    assert api_client.get(f"{URL}?q=HighCPU").json()["count"] == 30


def test_the_admin_list_and_its_search_make_the_same_queries_for_3_and_30_incidents(
    admin_client, integration, sysadmin
):
    paths = [CHANGELIST, f"{CHANGELIST}?q=決済", f"{CHANGELIST}?state__exact=triage"]
    incidents_with_history(3, integration=integration, actor=sysadmin)
    few = [queries_for(admin_client, path) for path in paths]

    incidents_with_history(27, integration=integration, actor=sysadmin)

    assert [queries_for(admin_client, path) for path in paths] == few


def test_a_later_page_of_the_admin_list_makes_the_same_queries_for_3_and_30_incidents(
    admin_client, integration, sysadmin, monkeypatch
):
    """Its rows' links carry the list's filters and its checkboxes are drawn in the page: neither
    reads the database for each row."""
    monkeypatch.setattr(incident_admin.IncidentAdmin, "list_per_page", 2)
    paths = [f"{CHANGELIST}?p=2", f"{CHANGELIST}?state__exact=triage&p=2&o=-3"]
    incidents_with_history(3, integration=integration, actor=sysadmin)
    few = [queries_for(admin_client, path) for path in paths]

    incidents_with_history(27, integration=integration, actor=sysadmin)
    monkeypatch.setattr(incident_admin.IncidentAdmin, "list_per_page", 20)

    assert [queries_for(admin_client, path) for path in paths] == few
    page = admin_client.get(paths[1]).content.decode()
    assert page.count('name="_selected_action"') == 10
    assert page.count("/change/?_changelist_filters=state__exact%3Dtriage%26p%3D2%26o%3D-3") == 20


def test_one_incident_with_many_events_makes_the_same_queries_as_with_few(
    api_client, admin_client, integration, sysadmin, make_user
):
    incident = IncidentFactory(commander=sysadmin)
    alert_for(incident, integration, alertname="HighCPU")
    key = incident.key
    paths = {
        "api": (api_client, f"{URL}{key}/"),
        "timeline": (api_client, f"{URL}{key}/timeline/"),
        "postmortem": (api_client, f"{URL}{key}/postmortem/"),
        "admin": (admin_client, f"{CHANGELIST}{incident.pk}/change/"),
    }

    def add_events(count):
        for n in range(count):
            TimelineEvent.objects.create(
                incident=incident, kind="note", actor=make_user(), at=timezone.now(), message=n
            )

    add_events(3)
    few = {name: queries_for(client, path) for name, (client, path) in paths.items()}

    add_events(27)

    assert {name: queries_for(client, path) for name, (client, path) in paths.items()} == few


def test_one_incident_with_many_alerts_makes_the_same_queries_as_with_few(
    api_client, admin_client, make_user
):
    """A grouped incident holds hundreds of alerts, from several integrations."""
    incident = IncidentFactory()
    integrations = [
        integration_create(name=f"am-{n}", kind="alertmanager", actor=make_user("managers"))[0]
        for n in range(3)
    ]
    paths = {
        "api": (api_client, f"{URL}{incident.key}/"),
        "admin": (admin_client, f"{CHANGELIST}{incident.pk}/change/"),
    }

    def add_alerts(count):
        for n in range(incident.alerts.count(), incident.alerts.count() + count):
            alert_for(incident, integrations[n % 3], alertname=f"HighCPU-{n}")

    add_alerts(3)
    few = {name: queries_for(client, path) for name, (client, path) in paths.items()}

    add_alerts(27)

    assert {name: queries_for(client, path) for name, (client, path) in paths.items()} == few


def test_the_admin_page_shows_the_latest_events_and_links_to_all(
    admin_client, monkeypatch, sysadmin
):
    monkeypatch.setattr(incident_admin, "TIMELINE_SHOWN", 3)
    incident = IncidentFactory()
    start = timezone.now() - dt.timedelta(hours=1)
    for n in range(8):
        TimelineEvent.objects.create(
            incident=incident,
            kind="note",
            at=start + dt.timedelta(minutes=n),
            message=f"note-number-{n}-",
        )

    page = admin_client.get(f"{CHANGELIST}{incident.pk}/change/").content.decode()

    assert [f"note-number-{n}-" in page for n in range(8)] == [False] * 5 + [True] * 3
    assert "イベント 8 件 (下に最新の 3 件)" in page
    everything = f"/admin/incidents/timelineevent/?incident__id__exact={incident.pk}"
    assert everything in page
    listed = admin_client.get(everything).content.decode()
    assert all(f"note-number-{n}-" in listed for n in range(8))


def test_search_finds_incidents_by_key_title_summary_and_alert_label(api_client, integration):
    by_title = IncidentFactory(title="決済APIの応答遅延")
    by_summary = IncidentFactory(title="遅い", summary="Checkout timeouts on web-3")
    by_label = IncidentFactory(title="CPU")
    alert_for(by_label, integration, alertname="HighCPU", instance="db-2:9100", job="node")
    IncidentFactory(title="unrelated", summary="nothing here")

    def found(q):
        return sorted(i["key"] for i in api_client.get(URL, {"q": q}).json()["results"])

    assert found("highcpu") == [by_label.key]  # any case
    assert found("db-2:9100") == [by_label.key]
    assert found("決済API") == [by_title.key]
    assert found("checkout TIMEOUTS") == [by_summary.key]
    assert found(by_summary.key.lower()) == [by_summary.key]
    # A label's name is not its value: searching "alertname" finds nothing.
    assert found("alertname") == []
    assert found("100%_") == []


def test_search_follows_labels_titles_and_summaries_however_they_are_written(
    api_client, integration
):
    """What search reads is kept by the database: a save, a bulk insert or update as the
    alert processor makes, a queryset update: each leaves the stored text equal to the row."""
    incident = IncidentFactory(title="CPU")
    one = alert_for(incident, integration, alertname="HighCPU")
    others = bulk_insert(
        [
            Alert(
                incident=incident,
                integration=integration,
                fingerprint=f"bulk-{n}",
                status=Alert.Status.FIRING,
                severity=incident.severity,
                labels={"alertname": f"DiskFull{n}"},
                first_received_at=one.first_received_at,
                last_received_at=one.last_received_at,
            )
            for n in range(2)
        ]
    )

    def found(q):
        return [i["key"] for i in api_client.get(URL, {"q": q}).json()["results"]]

    assert found("diskfull1") == [incident.key]
    one.labels = {"alertname": "TargetDown"}
    one.save()
    assert found("highcpu") == [] and found("targetdown") == [incident.key]
    others[0].labels = {"alertname": "MemoryLeak"}
    bulk_save([others[0]])
    assert found("diskfull0") == [] and found("memoryleak") == [incident.key]
    Alert.objects.filter(pk=others[1].pk).update(labels={"alertname": "ClockSkew"})
    assert found("diskfull1") == [] and found("clockskew") == [incident.key]
    Incident.objects.filter(pk=incident.pk).update(summary="Replica lag on db-4")
    assert found("replica lag") == [incident.key]
    incident.refresh_from_db()
    incident.title = "決済の遅延"
    incident.save()
    assert found("決済の遅延") == [incident.key] and found("cpu") == []


def test_the_admin_searches_as_the_api_does(admin_client, integration):
    by_label = IncidentFactory(title="CPU")
    alert_for(by_label, integration, alertname="HighCPU")
    other = IncidentFactory(title="unrelated")

    page = admin_client.get(CHANGELIST, {"q": "highcpu"}).content.decode()

    assert f">{by_label.key}<" in page and f">{other.key}<" not in page


def test_the_cursor_walks_every_incident_exactly_once_while_new_ones_arrive(
    api_client, monkeypatch
):
    monkeypatch.setattr(PageOrCursorPagination, "page_size", 4)
    moment = timezone.now() - dt.timedelta(days=1)
    # Ties in detection time across page borders, as a storm of alerts makes them.
    existing = {
        IncidentFactory(detected_at=moment - dt.timedelta(minutes=n // 3)).key for n in range(15)
    }
    for ordering in ("-detected_at", "detected_at"):
        seen = []
        page = api_client.get(URL, {"cursor": "", "ordering": ordering}).json()
        while True:
            assert "count" not in page
            seen += [(i["key"], i["detected_at"]) for i in page["results"]]
            IncidentFactory()  # a new incident between two pages: now, the newest
            if not page["next"]:
                break
            page = api_client.get(page["next"]).json()
        keys = [key for key, _at in seen]
        assert len(keys) == len(set(keys)), "a row seen twice"
        assert existing <= set(keys), "a row skipped"
        times = [dt.datetime.fromisoformat(at) for key, at in seen if key in existing]
        assert times == sorted(times, reverse=ordering.startswith("-"))


def test_paging_by_number_keeps_its_answer_and_a_bad_cursor_is_a_400(api_client):
    for _ in range(3):
        IncidentFactory()

    by_number = api_client.get(URL, {"page": 1}).json()
    assert set(by_number) == {"count", "count_capped", "next", "previous", "results"}
    assert (by_number["count"], by_number["count_capped"]) == (3, False)

    bad = api_client.get(URL, {"cursor": "not-a-cursor"})
    assert bad.status_code == 400
    assert list(bad.json()["fields"]) == ["cursor"]
    ordered = api_client.get(URL, {"cursor": "", "ordering": "severity"})
    assert ordered.status_code == 400
    assert "ordering" in ordered.json()["fields"]


def test_the_count_stops_at_its_limit_and_pages_by_number_go_on_past_it(
    api_client, monkeypatch, settings
):
    settings.API_COUNT_LIMIT = 5
    monkeypatch.setattr(PageOrCursorPagination, "page_size", 2)
    made = [IncidentFactory().key for _ in range(9)]

    first = api_client.get(URL).json()
    assert (first["count"], first["count_capped"]) == (5, True)
    keys, page = [], first
    while True:
        keys += [i["key"] for i in page["results"]]
        if not page["next"]:
            break
        page = api_client.get(page["next"]).json()
    assert sorted(keys) == sorted(made)  # all nine, on five pages
    assert api_client.get(URL, {"page": 6}).status_code == 404


def test_search_answers_its_first_matches_up_to_the_limit_newest_first(
    api_client, integration, settings
):
    settings.API_COUNT_LIMIT = 3
    start = timezone.now() - dt.timedelta(days=1)
    by_label = []
    for n in range(4):
        incident = IncidentFactory(title="CPU", detected_at=start + dt.timedelta(minutes=2 * n))
        alert_for(incident, integration, alertname="HighCPU")
        by_label.append(incident.key)
    by_title = IncidentFactory(title="HighCPU on db-1", detected_at=start + dt.timedelta(minutes=5))

    found = api_client.get(URL, {"q": "highcpu"}).json()

    # The newest of five, in the list's order (and one more, to know that there are more).
    assert [i["key"] for i in found["results"]] == [
        by_label[3],
        by_title.key,
        by_label[2],
        by_label[1],
    ]
    assert (found["count"], found["count_capped"]) == (3, True)
    # Filters narrow what search takes its first matches from.
    before = start + dt.timedelta(minutes=3)
    older = api_client.get(URL, {"q": "highcpu", "detected_before": before})
    assert [i["key"] for i in older.json()["results"]] == [by_label[1], by_label[0]]


def test_the_admin_list_counts_up_to_the_limit_and_pages_on_past_it(
    admin_client, monkeypatch, settings
):
    settings.API_COUNT_LIMIT = 2
    monkeypatch.setattr(incident_admin.IncidentAdmin, "list_per_page", 1)
    closed = [IncidentFactory(state=State.CLOSED) for _ in range(3)]
    IncidentFactory(state=State.TRIAGE)

    page = admin_client.get(CHANGELIST, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<strong>Closed</strong>: 2+" in page
    assert "<strong>Triage</strong>: 1" in page
    # The fourth page, past the count's limit: the oldest incident.
    fourth = admin_client.get(CHANGELIST, {"p": 4})
    assert fourth.status_code == 200
    assert f">{closed[0].key}<" in fourth.content.decode()
