"""Secrets never reach the logs: gunicorn serves Hikeshi as production does (DEBUG off) with
LOG_LEVEL=DEBUG, everything it writes goes to one file, and every door is used with its
secret (an API token, an integration's secret and routing key, Slack's signing secret,
Mattermost's token, the metrics token, a password typed right and wrong, an e-mail's link).
None of those strings, nor SECRET_KEY, may appear in what the server wrote, in the audit log,
or in the records of what arrived."""

from __future__ import annotations

import hashlib
import hmac
import http.cookiejar
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.hashers import make_password
from django.db import connection

from accounts.models import ChatIdentity
from alerts.models import Alert
from config.base import SYSTEM
from escalation.models import EscalationLevel, EscalationPolicy
from incidents import services
from integrations.models import AlertDelivery
from integrations.services import deliveries_process, integration_create
from notices.links import act_url
from notices.models import Notice
from tests.conftest import need_service
from tests.factories import UserFactory, token_for
from tests.helpers import free_port, running_database_url, wait_for

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = "T0001"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

pytestmark = [pytest.mark.hostile, pytest.mark.django_db(transaction=True)]


def fresh(prefix: str) -> str:
    """A secret no code or fixture could contain by chance."""
    return f"{prefix}-{secrets.token_urlsafe(24)}"


class Site:
    """gunicorn on the test database, as production runs it (its settings file, DEBUG off),
    logging at DEBUG into `log`."""

    def __init__(self, var: Path, env: dict[str, str]):
        self.var, self.env = var, env
        self.log = var / "server.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = os.environ | self.env | {"SITE_URL": self.url}
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        with self.log.open("wb") as out:
            self.server = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "gunicorn"),
                    "config.wsgi",
                    "--config=config/gunicorn.py",
                    "--workers=1",
                    "--threads=2",
                    f"--bind=127.0.0.1:{self.port}",
                    "--log-level=debug",
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        assert wait_for(lambda: self.request("/api/health/live")[0] == 200, timeout=60)

    def stop(self) -> str:
        if hasattr(self, "server"):
            self.server.terminate()
            self.server.wait(timeout=30)
        return self.log.read_text(encoding="utf-8", errors="replace")

    def request(self, path, *, data=None, headers=None, opener=None, method=None):
        body = data if isinstance(data, bytes | None) else urlencode(data).encode()
        request = urllib.request.Request(
            self.url + path, data=body, headers=headers or {}, method=method
        )
        try:
            with (opener or urllib.request.build_opener()).open(request, timeout=15) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""


def browser() -> urllib.request.OpenerDirector:
    """Cookies kept, as a browser keeps them (the session, CSRF)."""
    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )


def form_post(site: Site, opener, path: str, fields: dict) -> tuple[int, str]:
    """GET the page for its CSRF token, then POST the form as a browser does."""
    status, page = site.request(path, opener=opener)
    assert status == 200, (path, status, page[:300])
    token = CSRF.search(page).group(1)
    headers = {"Referer": site.url + path, "Content-Type": "application/x-www-form-urlencoded"}
    return site.request(
        path, data=fields | {"csrfmiddlewaretoken": token}, headers=headers, opener=opener
    )


def slack_headers(secret: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    base = b"v0:" + timestamp.encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


def command(text: str, user_id: str) -> bytes:
    return urlencode(
        {"team_id": WORKSPACE, "user_id": user_id, "command": "/incident", "text": text}
    ).encode()


def test_no_secret_used_at_any_door_is_written_to_the_logs(tmp_path, settings):
    need_service("PostgreSQL test database", connection.vendor == "postgresql")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    used = {
        "SECRET_KEY": fresh("secret-key"),
        "Slack signing secret": fresh("slack-signing"),
        "Mattermost token": fresh("mattermost"),
        "metrics token": fresh("metrics"),
        "password": fresh("password"),
        "wrong password": fresh("wrong-password"),
    }
    site = Site(
        tmp_path,
        {
            "DEBUG": "false",
            "LOG_LEVEL": "DEBUG",
            "SECRET_KEY": used["SECRET_KEY"],
            "SLACK_SIGNING_SECRETS": used["Slack signing secret"],
            "MATTERMOST_TOKENS": used["Mattermost token"],
            "METRICS_TOKEN": used["metrics token"],
            "DATABASE_URL": running_database_url(),
            "STATIC_ROOT": str(tmp_path / "static"),
            "HIKESHI_VAR_DIR": str(tmp_path),
            "CELERY_BROKER_URL": "filesystem://",
            "DB_CONN_MAX_AGE": "0",
        },
    )
    # The links this process signs must be the server's: the same key.
    settings.SECRET_KEY, settings.SITE_URL = used["SECRET_KEY"], site.url

    person = UserFactory(roles=["sysadmins"], username="sato")
    person.password = make_password(used["password"])
    person.save(update_fields=["password"])
    for provider in ("slack", "mattermost"):
        ChatIdentity.objects.create(
            user=person, provider=provider, workspace=WORKSPACE, external_id="U0001"
        )
    used["API token"] = token_for(person)
    _alertmanager, used["integration secret"] = integration_create(
        name="prometheus", kind="alertmanager", actor=SYSTEM
    )
    _pagerduty, used["routing key"] = integration_create(
        name="pd-clients", kind="pagerduty", actor=SYSTEM
    )
    policy = EscalationPolicy.objects.create(name="mail", stop_on="resolved")
    level = EscalationLevel.objects.create(policy=policy, number=1, name="L1", delay=timedelta(0))
    level.users.add(person)
    incident = services.incident_declare(
        actor=SYSTEM, title="決済APIの応答遅延", severity="P1", policy_name="mail"
    )
    link = act_url(Notice.objects.get(incident=incident, recipient=person.email))
    used["e-mail link"] = link.rsplit("/", 1)[1]

    try:
        site.start()
        answers = exercise(site, used, incident_key=incident.key, link=link)
    finally:
        written = site.stop()

    assert answers == EXPECTED, answers
    # What was written is the server's own log, at DEBUG, with a line for each request.
    assert "DEBUG" in written and "/api/v1/chat/slack/commands" in written, written[-2000:]
    leaked = {name for name, value in used.items() if value in written}
    assert leaked == set(), [line for line in written.splitlines() if leaked_in(line, used)]

    deliveries = [json.dumps(d.body) for d in AlertDelivery.objects.all()]
    assert deliveries_process() == len(deliveries) == 2  # as the alert processor applies them
    recorded = {
        "audit log": [
            json.dumps([e.changes, e.additional_data, e.object_repr, e.serialized_data])
            for e in LogEntry.objects.all()
        ],
        "deliveries waiting": deliveries,
        "alerts": [json.dumps(a.raw) for a in Alert.objects.all()],
    }
    assert recorded["audit log"] and recorded["alerts"], recorded
    found = {
        (where, name)
        for where, texts in recorded.items()
        for text in texts
        for name, value in used.items()
        if value in text
    }
    assert found == set()


def leaked_in(line: str, used: dict[str, str]) -> bool:
    return any(value in line for value in used.values())


EXPECTED = {
    "API with a token": 200,
    "API declaring": 201,
    "API with a wrong token": 401,
    "webhook with its secret": 200,
    "webhook with a wrong secret": 401,
    "PagerDuty event with its routing key": 202,
    "Slack command, signed": 200,
    "Slack command, wrongly signed": 401,
    "chat link opened": 200,  # the login page it sends the person to
    "Mattermost command with its token": 200,
    "Mattermost command with a wrong token": 401,
    "metrics with the token": 200,
    "metrics with a wrong token": 401,
    "admin login, wrong password": 200,
    "admin login": 200,
    "e-mail link pressed without the form": 403,  # no CSRF cookie
    "e-mail link shown": 200,
    "e-mail link pressed": 200,
}


def exercise(site: Site, used: dict[str, str], *, incident_key: str, link: str) -> dict:
    """Every door, with its secret (and once with a wrong one); the status of each answer."""
    answers = {}
    token = {"Authorization": f"Token {used['API token']}"}
    answers["API with a token"] = site.request("/api/v1/incidents/", headers=token)[0]
    declare = json.dumps({"title": "ディスク使用率 90%超過", "severity": "P2"}).encode()
    answers["API declaring"] = site.request(
        "/api/v1/incidents/",
        data=declare,
        headers=token | {"Content-Type": "application/json"},
    )[0]
    answers["API with a wrong token"] = site.request(
        "/api/v1/incidents/", headers={"Authorization": f"Token {fresh('not-a-token')}"}
    )[0]

    group = json.dumps(payload("alertmanager_firing")).encode()
    for name, secret in (
        ("webhook with its secret", used["integration secret"]),
        ("webhook with a wrong secret", fresh("wrong-secret")),
    ):
        answers[name] = site.request(
            "/api/v1/integrations/alertmanager/",
            data=group,
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        )[0]
    event = payload("pagerduty_trigger") | {"routing_key": used["routing key"]}
    answers["PagerDuty event with its routing key"] = site.request(
        "/v2/enqueue", data=json.dumps(event).encode(), headers={"Content-Type": "application/json"}
    )[0]

    body = command(f"status {incident_key}", "U0001")
    answers["Slack command, signed"] = site.request(
        "/api/v1/chat/slack/commands",
        data=body,
        headers=slack_headers(used["Slack signing secret"], body),
    )[0]
    answers["Slack command, wrongly signed"] = site.request(
        "/api/v1/chat/slack/commands", data=body, headers=slack_headers(fresh("wrong"), body)
    )[0]
    body = command("link", "U0002")  # an account not linked yet asks for its one-time link
    status, answer = site.request(
        "/api/v1/chat/slack/commands",
        data=body,
        headers=slack_headers(used["Slack signing secret"], body),
    )
    chat_link = re.search(r"/chat/link/([^\s\"]+)", json.loads(answer)["text"]).group(1)
    used["chat link"] = chat_link
    answers["chat link opened"] = site.request(f"/chat/link/{chat_link}")[0]
    for name, mattermost in (
        ("Mattermost command with its token", used["Mattermost token"]),
        ("Mattermost command with a wrong token", fresh("wrong-mattermost")),
    ):
        answers[name] = site.request(
            "/api/v1/chat/mattermost/commands",
            data=command("list", "U0001") + b"&token=" + mattermost.encode(),
            headers={
                "Authorization": f"Token {mattermost}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )[0]

    for name, metrics in (
        ("metrics with the token", used["metrics token"]),
        ("metrics with a wrong token", fresh("wrong-metrics")),
    ):
        answers[name] = site.request("/metrics", headers={"Authorization": f"Bearer {metrics}"})[0]

    login = "/admin/login/?next=/admin/"
    person = {"username": "sato"}
    status, page = form_post(site, browser(), login, person | {"password": used["wrong password"]})
    answers["admin login, wrong password"] = status
    assert "errornote" in page, page[:500]
    status, page = form_post(site, browser(), login, person | {"password": used["password"]})
    answers["admin login"] = status
    assert "/admin/logout/" in page or "logout" in page, page[:500]

    path = link.removeprefix(site.url)
    # Refused before it is used, while its token still works: Django logs the refused path.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    answers["e-mail link pressed without the form"] = site.request(
        path, data={}, headers=form, opener=browser()
    )[0]
    reader = browser()
    status, page = site.request(path, opener=reader)
    answers["e-mail link shown"] = status
    status, page = form_post(site, reader, path, {})
    answers["e-mail link pressed"] = status
    assert "sato" in page, page[:500]
    return answers


def payload(name: str) -> dict:
    return json.loads((ROOT / "tests" / "integrations" / "payloads" / f"{name}.json").read_text())
