"""Each person reads notices in their own language; a team address in the team's."""

import pytest

from accounts.models import Profile
from notices.emails import notice_message
from notices.models import Notice
from tests.escalation.conftest import make_policy


@pytest.fixture
def people(make_user):
    english = make_user(email="sam@x.test")
    Profile.objects.create(user=english, language="en")
    undecided = make_user(email="ken@x.test")
    Profile.objects.create(user=undecided, language="")
    silent = make_user(email="aki@x.test")  # no profile at all
    return english, undecided, silent


def languages_of(incident) -> dict[str, str]:
    return dict(Notice.objects.filter(incident=incident).values_list("recipient", "language"))


def test_members_read_their_own_language_and_the_rest_the_teams(declare, people):
    policy = make_policy("live", levels=[(1, 0, ["team@x.test"], "")])
    team = policy.levels.get().teams.get()
    team.language = "en"
    team.save()
    team.members.set(people)

    incident = declare(policy_name="live")

    assert languages_of(incident) == {
        "team@x.test": "en",
        "sam@x.test": "en",
        "ken@x.test": "en",  # chose nothing: the team's
        "aki@x.test": "en",
    }


def test_people_named_on_a_level_read_their_language_or_japanese(declare, people):
    policy = make_policy("live", levels=[(1, 0, [], "")])
    policy.levels.get().users.set(people)

    incident = declare(policy_name="live")

    assert languages_of(incident) == {"sam@x.test": "en", "ken@x.test": "ja", "aki@x.test": "ja"}
    english = Notice.objects.get(incident=incident, recipient="sam@x.test")
    assert notice_message(english).extra_headers["Content-Language"] == "en"


def test_freezing_a_policy_reads_every_language_in_a_fixed_number_of_queries(
    people, make_user, django_assert_max_num_queries
):
    policy = make_policy("live", levels=[(1, 0, ["team@x.test"], "")])
    policy.levels.get().teams.get().members.set(people)
    policy.levels.get().users.set(people)
    for n in range(5):  # more people must not mean more queries
        Profile.objects.create(user=make_user(email=f"p{n}@x.test"), language="en")
    policy.levels.get().users.add(
        *[p.user for p in Profile.objects.filter(user__email__startswith="p")]
    )

    # One query more than before schedules: the levels' schedules, prefetched once.
    with django_assert_max_num_queries(7):
        snapshot = policy.snapshot()

    assert len(snapshot["levels"][0]["recipients"]) == 1 + 3 + 5
