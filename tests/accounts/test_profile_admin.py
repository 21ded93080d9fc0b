"""A manager sets a person's notice language on their user page; the change is audited."""

from auditlog.models import LogEntry

from accounts.models import Profile


def test_the_language_is_set_on_the_user_page_and_audited(client, make_user):
    admin = make_user(is_superuser=True)
    person = make_user(email="sam@x.test")
    client.force_login(admin)
    page = client.get(f"/admin/auth/user/{person.pk}/change/")
    assert b'name="profile-0-language"' in page.content

    response = client.post(
        f"/admin/auth/user/{person.pk}/change/",
        {
            "username": person.username,
            "email": person.email,
            "is_active": "on",
            "is_staff": "on",
            "date_joined_0": "2026-11-01",
            "date_joined_1": "09:00:00",
            "profile-TOTAL_FORMS": "1",
            "profile-INITIAL_FORMS": "0",
            "profile-MIN_NUM_FORMS": "0",
            "profile-MAX_NUM_FORMS": "1",
            "profile-0-language": "en",
            "profile-0-user": str(person.pk),
            "chat_identities-TOTAL_FORMS": "0",
            "chat_identities-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content[:3000]
    profile = Profile.objects.get(user=person)
    assert profile.language == "en"
    entry = LogEntry.objects.get_for_object(profile).get()
    assert entry.actor == admin
