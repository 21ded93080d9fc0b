"""The long lists' quick rows draw what Django's admin draws: the same checkbox, in each
language, and the same links."""

import pytest
from django.contrib import admin
from django.contrib.admin.templatetags.admin_list import results
from django.contrib.admin.views.main import ChangeList
from django.test import RequestFactory
from django.urls import resolve
from django.utils import translation

from config.admin import QuickChangeList, QuickRows
from incidents.models import Incident
from tests.factories import IncidentFactory

CHANGELIST = "/admin/incidents/incident/"


def quick_admins():
    return [
        model_admin
        for model_admin in admin.site._registry.values()
        if isinstance(model_admin, QuickRows)
    ]


def test_the_long_lists_use_the_quick_rows():
    names = {type(model_admin).__name__ for model_admin in quick_admins()}
    assert {"IncidentAdmin", "TimelineEventAdmin", "NoticeAdmin", "ActionItemAdmin"} <= names


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_row_checkbox_is_djangos_own(language):
    incident = IncidentFactory(title="<b>\"決済\" & 'API'</b>", service="<web>")
    model_admin = admin.site._registry[type(incident)]

    with translation.override(language):
        quick = model_admin.action_checkbox(incident)
        django = admin.ModelAdmin.action_checkbox(model_admin, incident)

    assert quick == django
    assert 'name="_selected_action"' in quick and "&lt;b&gt;" in quick


def rows(model_admin, request):
    changelist = model_admin.get_changelist_instance(request)
    changelist.formset = None  # as the list view sets it
    return type(changelist), [list(row) for row in results(changelist)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [{}, {"p": "2"}, {"severity__exact": "P0", "o": "-3.1"}, {"q": "決済 & <b>", "p": "1"}],
)
def test_the_rows_are_djangos_own(make_user, monkeypatch, query):
    for n in range(3):
        IncidentFactory(title=f"決済 & <b>{n}</b>", severity="P0")
    model_admin = admin.site._registry[Incident]
    monkeypatch.setattr(model_admin, "list_per_page", 2)
    request = RequestFactory().get(CHANGELIST, query)
    request.user = make_user("managers")
    request.resolver_match = resolve(CHANGELIST)  # the list's filters are kept by the links

    quick, quick_rows = rows(model_admin, request)
    monkeypatch.setattr(model_admin, "get_changelist", lambda request: ChangeList)
    django, django_rows = rows(model_admin, request)

    assert (quick, django) == (QuickChangeList, ChangeList)
    assert quick_rows and quick_rows == django_rows
    html = "".join(cell for row in quick_rows for cell in row)
    assert html.count(f'href="{CHANGELIST}') == 2 * len(quick_rows)
    assert ("?_changelist_filters=" in html) == bool(query)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "severity", "state"),
    [("ja", "P0 (Critical)", "障害検知"), ("en", "P0 Critical", "Detected")],
)
def test_the_list_shows_each_row_with_its_labels_in_the_language(
    client, make_user, language, severity, state
):
    client.force_login(make_user("managers"))
    incident = IncidentFactory(severity="P0", state="detected")

    page = client.get(CHANGELIST, HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert f'name="_selected_action" value="{incident.pk}" class="action-select"' in page
    assert f'href="{CHANGELIST}{incident.pk}/change/"' in page
    assert f'nowrap">{severity}</span>' in page and f'nowrap">{state}</span>' in page
