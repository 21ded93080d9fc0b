"""One-click acknowledge from the escalation e-mail, read off a real SMTP server: GET only
shows, POST acts once as the person the mail went to; a used, expired or altered link says
which and changes nothing."""

import re

import pytest

from incidents.models import State
from notices.services import notice_deliver
from tests.escalation.conftest import make_policy

LINK = re.compile(r"http://testserver(/act/[^\s\"<]+)")


@pytest.fixture
def mailed(smtp_backend, declare, make_user, settings):
    """An escalation mailed to a responder who has a user, through the SMTP server."""
    settings.SITE_URL = "http://testserver"
    make_user("operations", username="ito", email="ito@x.test")
    make_policy("mail", levels=[(1, 0, ["ito@x.test"], "")])
    incident = declare(policy_name="mail", severity="P1")
    assert notice_deliver() == 1
    (message,) = smtp_backend.mailbox.to("ito@x.test")
    return incident, message


def parts(message) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if part.get_content_maintype() == "text"
    }


def test_the_link_is_in_the_text_and_the_html_part(mailed):
    _incident, message = mailed
    text, html = parts(message)["text/plain"], parts(message)["text/html"]

    assert LINK.search(text) and LINK.search(html)


def test_get_shows_the_incident_and_does_not_act(mailed, client):
    incident, message = mailed
    path = LINK.search(parts(message)["text/plain"]).group(1)

    page = client.get(path)

    assert page.status_code == 200
    assert incident.key in page.content.decode() and "ito" in page.content.decode()
    incident.refresh_from_db()
    assert incident.state == State.DETECTED


def test_post_acknowledges_once_as_the_person_the_mail_went_to(mailed, client):
    incident, message = mailed
    path = LINK.search(parts(message)["text/plain"]).group(1)

    done = client.post(path, HTTP_ACCEPT_LANGUAGE="en")
    again = client.post(path)

    assert done.status_code == 200
    incident.refresh_from_db()
    assert incident.state == State.TRIAGE
    event = incident.timeline.get(kind="acknowledge")
    assert event.actor.username == "ito"
    assert event.message == "Acknowledged from the e-mail"
    assert again.status_code == 410
    assert incident.timeline.filter(kind="acknowledge").count() == 1


def test_an_expired_or_altered_link_is_refused(mailed, client, settings):
    incident, message = mailed
    path = LINK.search(parts(message)["text/plain"]).group(1)

    altered = client.post(path[:-4] + "abcd")
    settings.ACT_LINK_MAX_AGE_SECONDS = -1
    expired = client.post(path)

    assert (altered.status_code, expired.status_code) == (400, 410)
    incident.refresh_from_db()
    assert incident.state == State.DETECTED


def test_a_mail_to_a_team_address_asks_the_reader_to_log_in_and_acts_as_them(
    smtp_backend, declare, client, make_user, settings
):
    settings.SITE_URL = "http://testserver"
    make_policy("team", levels=[(1, 0, ["oncall@x.test"], "")])
    incident = declare(policy_name="team")
    notice_deliver()
    (message,) = smtp_backend.mailbox.to("oncall@x.test")
    path = LINK.search(parts(message)["text/plain"]).group(1)

    anonymous = client.get(path)
    reader = make_user("operations", username="mori")
    client.force_login(reader)
    client.post(path)

    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    incident.refresh_from_db()
    assert incident.timeline.get(kind="acknowledge").actor == reader


def test_a_reader_whose_role_may_not_acknowledge_is_told_and_nothing_changes(
    smtp_backend, declare, client, make_user, settings
):
    settings.SITE_URL = "http://testserver"
    make_user("executives", username="ceo", email="ceo@x.test")
    make_policy("execs", levels=[(1, 0, ["ceo@x.test"], "")])
    incident = declare(policy_name="execs")
    notice_deliver()
    (message,) = smtp_backend.mailbox.to("ceo@x.test")
    path = LINK.search(parts(message)["text/plain"]).group(1)

    refused = client.post(path)

    assert refused.status_code == 403
    incident.refresh_from_db()
    assert incident.state == State.DETECTED
