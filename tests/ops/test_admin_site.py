"""The admin is Hikeshi's: its name, the way to the board, the incidents burning first."""

import pytest
from django.urls import reverse

from incidents.models import State
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def test_the_admin_says_hikeshi_not_django(client, make_user):
    client.force_login(make_user("managers"))

    body = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Hikeshi 火消し" in body
    assert "Django administration" not in body and "Django site admin" not in body


def test_the_index_links_to_the_board_and_analytics(client, make_user):
    client.force_login(make_user("managers"))

    body = client.get(reverse("admin:index")).content.decode()

    assert f'href="{reverse("ops-monitoring")}"' in body
    assert f'href="{reverse("ops-analytics")}"' in body


def test_active_incidents_come_before_the_apps_most_serious_first(client, make_user):
    p2 = IncidentFactory(title="二番目", severity="P2")
    p0 = IncidentFactory(title="最優先", severity="P0")
    closed = IncidentFactory(title="終わったこと", state=State.CLOSED)
    client.force_login(make_user("operations"))

    body = client.get(reverse("admin:index")).content.decode()

    assert body.index("最優先") < body.index("二番目") < body.index('id="content-main"')
    assert p0.get_admin_url() in body and p2.get_admin_url() in body
    assert closed.title not in body


def test_who_may_not_see_incidents_sees_no_list(client, make_user):
    IncidentFactory(title="見えないはず")
    client.force_login(make_user())  # staff, no role

    body = client.get(reverse("admin:index")).content.decode()

    assert "見えないはず" not in body
