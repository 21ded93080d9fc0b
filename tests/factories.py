import factory
from django.contrib.auth.models import Group, User
from django.utils import timezone
from knox.models import AuthToken

from incidents.models import Category, Incident, Severity


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password("correct horse battery")
    is_staff = True

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        for name in extracted or []:
            self.groups.add(Group.objects.get(name=name))


class IncidentFactory(factory.django.DjangoModelFactory):
    """Raw rows for reading tests; changes under test go through the services."""

    class Meta:
        model = Incident

    title = factory.Sequence(lambda n: f"決済APIの応答遅延 {n}")
    severity = Severity.P1
    category = Category.SYSTEM
    detected_at = factory.LazyFunction(timezone.now)


def token_for(user) -> str:
    return AuthToken.objects.create(user=user, expiry=None)[1]


class VendorFactory(factory.django.DjangoModelFactory):
    """Raw vendor rows; the runbook's own (vercel, supabase, cdn) are seeded in every test."""

    class Meta:
        model = "vendors.Vendor"

    key = factory.Sequence(lambda n: f"vendor-{n}")
    name = factory.Sequence(lambda n: f"Vendor {n}")
    provides_ja = "メール配信"
    provides_en = "E-mail delivery"
    support_channel_ja = "サポート窓口"
    support_channel_en = "Support desk"
    support_url = "https://vendor.example/support"
    services = factory.LazyFunction(lambda: ["mail"])
