import pytest

from changes import services
from changes.models import Kind
from config.base import SYSTEM
from integrations.services import integration_create
from tests.integrations.conftest import alertmanager, post_alertmanager  # noqa: F401
from tests.maintenance.conftest import window  # noqa: F401


@pytest.fixture
def start(operator):
    """A change started through the service, as a person at the admin or a pipeline would."""

    def start(actor=None, **fields):
        fields.setdefault("kind", Kind.RELEASE)
        fields.setdefault("title", "決済API v1.4.2")
        fields.setdefault("service", "payments")
        return services.change_start(actor=actor or operator, **fields)

    return start


@pytest.fixture
def pipeline(make_user):
    """A deploy pipeline's account: the integrations role."""
    return make_user("integrations", username="deploy-bot")


@pytest.fixture
def pagerduty(db):
    integration, secret = integration_create(name="payments", kind="pagerduty", actor=SYSTEM)
    integration.secret = secret
    return integration
