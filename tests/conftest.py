import io
import os

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from rest_framework.test import APIClient

from incidents import services
from tests.factories import UserFactory, token_for

IN_CI = os.environ.get("CI") == "true"


def need_service(name: str, reachable: bool) -> None:
    """A missing service fails in CI and skips only on a developer's machine."""
    if reachable:
        return
    if IN_CI:
        pytest.fail(f"{name} is required in CI but not reachable")
    pytest.skip(f"{name} not reachable")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        call_command("load_runbook_defaults", stdout=io.StringIO())


@pytest.fixture(autouse=True)
def _runbook_defaults(db, settings):
    """Roles exist in every test (a transactional test's flush removes them: reload)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if not Group.objects.filter(name="managers").exists():
        call_command("load_runbook_defaults", stdout=io.StringIO())


@pytest.fixture(autouse=True)
def _postmortem_dir(settings, tmp_path):
    """Reports written by tests go to a scratch folder, never into docs/incidents/ (nor change
    records into docs/changes/)."""
    settings.POSTMORTEM_DIR = tmp_path / "incidents"
    settings.CHANGE_DIR = tmp_path / "changes"


@pytest.fixture
def make_user(db):
    def make(*roles, **fields):
        return UserFactory(roles=list(roles), **fields)

    return make


@pytest.fixture
def sysadmin(make_user):
    return make_user("sysadmins")


@pytest.fixture
def operator(make_user):
    return make_user("operations")


@pytest.fixture
def api(db):
    """An API client; `api.as_user(user)` authenticates with a real token."""

    class Client(APIClient):
        def as_user(self, user):
            self.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
            return self

    return Client()


@pytest.fixture
def declare(sysadmin):
    def declare(actor=None, **fields):
        fields.setdefault("title", "決済APIの応答遅延")
        fields.setdefault("severity", "P1")
        return services.incident_declare(actor=actor or sysadmin, **fields)

    return declare


# --- `make harness`: the guarantees' figures in one table ------------------------------------


def pytest_addoption(parser):
    parser.addoption("--harness", action="store_true", help="print the harness table after the run")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Faults survived, cases fuzzed, 5xx seen, roles × doors checked: counted from the run's
    own reports (a fuzz test records its cases as the `cases` property)."""
    if not config.getoption("harness"):
        return
    reports = [
        report
        for kind in ("passed", "failed")
        for report in terminalreporter.stats.get(kind, [])
        if report.when == "call"
    ]

    def count(marker: str, outcome: str | None = None) -> int:
        return sum(
            1
            for report in reports
            if marker in report.keywords and (outcome is None or report.outcome == outcome)
        )

    def summed(name: str, marker: str) -> int:
        return sum(
            value
            for report in reports
            if marker in report.keywords
            for key, value in report.user_properties
            if key == name
        )

    cells = [r for r in reports if "test_each_role_may_do_through_each_door" in r.nodeid]
    failed_hostile = count("hostile", "failed")
    rows = [
        ("faults survived", f"{count('faults', 'passed')} of {count('faults')}"),
        ("hostile-input tests passed", f"{count('hostile', 'passed')} of {count('hostile')}"),
        ("cases fuzzed", str(summed("cases", "hostile"))),
        (
            "5xx answers seen",
            str(summed("server_errors", "hostile"))
            if not failed_hostile
            else f"see the {failed_hostile} failed tests",
        ),
        (
            "lost / duplicated escalations, notices, alerts",
            "0 / 0" if not count("faults", "failed") else "see the failed fault tests",
        ),
        (
            "notices resent after a kill -9 (same Message-ID)",
            str(summed("resent_after_kill", "faults")),
        ),
        (
            "roles × actions × doors checked",
            f"{sum(r.outcome == 'passed' for r in cells)} of {len(cells)} cells",
        ),
    ]
    terminalreporter.write_sep("=", "harness")
    width = max(len(name) for name, _value in rows)
    for name, value in rows:
        terminalreporter.write_line(f"{name:<{width}}  {value}")
