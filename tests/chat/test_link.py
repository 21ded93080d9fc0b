"""`/incident link`: a one-time link that, after a real login, makes the chat account act as
the person who logged in."""

import re

from auditlog.models import LogEntry

from accounts.models import ChatIdentity
from incidents.models import Incident


def link_path(answer) -> str:
    return re.search(r"http://testserver(/chat/link/\S+)", answer["text"]).group(1)


def test_a_person_links_their_chat_account_by_logging_in(slack_command, client, make_user):
    person = make_user("operations", username="sato")
    path = link_path(slack_command("link", user="U-sato"))

    to_login = client.get(path)
    assert to_login.status_code == 302 and "/admin/login/" in to_login["Location"]
    client.post(
        to_login["Location"],
        {"username": "sato", "password": "correct horse battery", "next": path},
    )
    confirm = client.get(path)
    assert confirm.status_code == 200 and "U-sato" in confirm.content.decode()
    assert not ChatIdentity.objects.exists()  # GET only shows what would be linked

    done = client.post(path)

    assert done.status_code == 200
    identity = ChatIdentity.objects.get(external_id="U-sato")
    assert identity.user == person
    assert LogEntry.objects.get_for_object(identity).get().actor == person
    slack_command("declare P2 リンク後の宣言", user="U-sato")
    assert Incident.objects.get().created_by == person


def test_a_link_works_once(slack_command, client, make_user):
    client.force_login(make_user("operations"))
    path = link_path(slack_command("link", user="U-once"))

    assert client.post(path).status_code == 200
    again = client.post(path)

    assert again.status_code == 400
    assert ChatIdentity.objects.count() == 1


def test_an_altered_or_expired_link_changes_nothing(slack_command, client, make_user, settings):
    client.force_login(make_user("operations"))
    path = link_path(slack_command("link", user="U-late"))

    altered = client.post(path[:-3] + "xyz")
    settings.CHAT_LINK_MAX_AGE_SECONDS = -1
    expired = client.post(path)

    assert (altered.status_code, expired.status_code) == (400, 400)
    assert not ChatIdentity.objects.exists()


def test_managers_link_and_unlink_through_the_api(api, make_user):
    manager, person = make_user("managers"), make_user("operations", username="kato")
    client = api.as_user(manager)

    created = client.post(
        "/api/v1/chat/identities/",
        {"user": "kato", "provider": "slack", "workspace": "T0001", "external_id": "U-kato"},
        format="json",
    )
    listed = client.get("/api/v1/chat/identities/")
    identity = ChatIdentity.objects.get()
    deleted = client.delete(f"/api/v1/chat/identities/{identity.pk}/")
    refused = api.as_user(person).get("/api/v1/chat/identities/")

    assert created.status_code == 201, created.json()
    assert listed.json()["results"][0]["user"] == "kato"
    assert LogEntry.objects.get_for_object(identity).filter(actor=manager).count() == 2
    assert deleted.status_code == 204
    assert not ChatIdentity.objects.exists()
    assert refused.status_code == 403
