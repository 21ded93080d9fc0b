"""The board, analytics and admin in a real browser (Debian's chromium through Selenium),
served as production serves them: gunicorn, DEBUG off, static files through whitenoise.

Screenshots of each page go to var/screenshots/ for a person to look at."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from incidents.models import Incident, State
from tests.conftest import need_service
from tests.factories import IncidentFactory, token_for
from tests.helpers import gunicorn_serving, http

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOTS = ROOT / "var" / "screenshots"
PASSWORD = "correct horse battery staple"
# Generous bounds for a loaded machine; the board itself polls every 5 s.
PAGE_SECONDS = 30

pytestmark = pytest.mark.django_db(transaction=True)


def _get(url: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
    return http("GET", url, headers=headers)


@pytest.fixture(scope="module")
def site(django_db_setup, tmp_path_factory):
    """gunicorn on the test database, DEBUG off, its static files collected by whitenoise."""
    need_service("PostgreSQL test database", connection.vendor == "postgresql")
    var = tmp_path_factory.mktemp("site")
    env = {
        "STATIC_ROOT": str(var / "static"),
        "HIKESHI_VAR_DIR": str(var),
        "DB_CONN_MAX_AGE": "0",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=os.environ | {"DEBUG": "false", "SECRET_KEY": "x"} | env,
        check=True,
    )
    with gunicorn_serving(env) as url:
        yield url


@pytest.fixture(scope="module")
def chrome():
    need_service("chromium", os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PAGE_SECONDS)
    yield driver
    driver.quit()


@pytest.fixture
def browser(chrome):
    chrome.delete_all_cookies()
    return chrome


@pytest.fixture
def responder(make_user, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user = make_user("sysadmins")
    user.password = make_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


def screenshot(driver, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def log_in(driver, site: str, user, next_path: str) -> None:
    driver.get(f"{site}/admin/login/?next={next_path}")
    driver.find_element(By.NAME, "username").send_keys(user.username)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "[type=submit]").click()
    # Not the login page itself: its own address holds `next_path` ("?next=/admin/").
    WebDriverWait(driver, PAGE_SECONDS).until(
        lambda d: "/login/" not in d.current_url and next_path in d.current_url
    )


def declare_through_the_api(site: str, user, title: str) -> dict:
    body = json.dumps({"title": title, "severity": "P0", "category": "system"}).encode()
    request = urllib.request.Request(
        f"{site}/api/v1/incidents/",
        data=body,
        headers={"Authorization": f"Token {token_for(user)}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return json.loads(response.read())


def click_when_ready(driver, selector: str) -> None:
    """Click, again if htmx swapped the element away between finding and clicking it."""
    WebDriverWait(driver, PAGE_SECONDS, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: d.find_element(By.CSS_SELECTOR, selector).click() or True
    )


def clock_seconds(text: str) -> int:
    parts = [int(p) for p in text.split(":")]
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


def test_an_incident_declared_elsewhere_appears_ticks_and_is_acknowledged(site, browser, responder):
    log_in(browser, site, responder, "/ops/monitoring")
    board = browser.find_element(By.ID, "board")
    assert re.search(r"every [1-5]s", board.get_attribute("hx-trigger"))  # polls ≤ 5 s
    browser.execute_script("window.notReloaded = true")

    key = declare_through_the_api(site, responder, "決済APIの応答遅延 (browser)")["key"]
    started = time.monotonic()
    WebDriverWait(browser, PAGE_SECONDS).until(
        EC.presence_of_element_located((By.ID, f"row-{key}"))
    )
    print(f"appeared after {time.monotonic() - started:.1f} s")
    assert browser.execute_script("return window.notReloaded === true")  # no page reload

    # htmx replaces the rows every few seconds: look each element up afresh.
    def countdown(driver) -> int | None:
        try:
            text = driver.find_element(By.CSS_SELECTOR, f"#row-{key} .countdown").text
        except StaleElementReferenceException:
            return None
        return clock_seconds(text) if re.fullmatch(r"\d+:\d\d(:\d\d)?", text) else None

    first = WebDriverWait(browser, PAGE_SECONDS).until(countdown)
    assert 0 < first <= 15 * 60  # P0: the first escalation within 15 minutes
    WebDriverWait(browser, PAGE_SECONDS).until(lambda d: (countdown(d) or first) < first)
    screenshot(browser, "board")

    click_when_ready(browser, f"#row-{key} button.ack")
    WebDriverWait(browser, PAGE_SECONDS, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: d.find_element(By.CSS_SELECTOR, f"#row-{key} .state").text == "Triage"
    )
    assert Incident.objects.get(pk=int(key.removeprefix("INC-"))).state == State.TRIAGE
    assert browser.execute_script("return window.notReloaded === true")


def test_the_board_still_shows_its_table_without_javascript(site, browser, responder):
    incident = IncidentFactory(title="静かな障害", severity="P2")
    log_in(browser, site, responder, "/ops/monitoring")
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        browser.get(f"{site}/ops/monitoring")
        row = browser.find_element(By.ID, f"row-{incident.key}")
        assert "静かな障害" in row.text
        assert row.find_element(By.CSS_SELECTOR, ".countdown, td").is_displayed()
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})


def test_analytics_draws_its_charts_as_svg(site, browser, responder):
    IncidentFactory.create_batch(3, severity="P1")
    log_in(browser, site, responder, "/ops/analytics")

    weekly = browser.find_element(By.CSS_SELECTOR, "svg[data-chart=weekly]")
    assert weekly.find_elements(By.CSS_SELECTOR, "rect[data-series=P1]")
    charts = {
        svg.get_attribute("data-chart") for svg in browser.find_elements(By.CSS_SELECTOR, "svg")
    }
    assert {"weekly", "times", "levels", "sources", "checklists", "delivery"} <= charts
    screenshot(browser, "analytics")


def test_the_admin_is_hikeshis_and_styled_behind_gunicorn(site, browser, responder):
    IncidentFactory(title="管理画面の先頭", severity="P0")
    log_in(browser, site, responder, "/admin/")

    assert "Hikeshi" in browser.title and "Django" not in browser.title
    assert "火消し" in browser.find_element(By.ID, "site-name").text
    now = browser.find_element(By.ID, "hikeshi-now")
    assert "管理画面の先頭" in now.text
    assert browser.execute_script(  # before the apps' list
        "return Boolean(document.getElementById('hikeshi-now').compareDocumentPosition("
        "document.getElementById('content-main')) & Node.DOCUMENT_POSITION_FOLLOWING)"
    )
    stylesheet = browser.find_element(By.CSS_SELECTOR, "link[rel=stylesheet]")
    status, _, headers = _get(stylesheet.get_attribute("href"))
    assert status == 200
    assert "max-age=315360000" in headers.get("Cache-Control", "")  # hashed: cached for good
    screenshot(browser, "admin")
