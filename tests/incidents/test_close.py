import pytest

from config.base import ActionNotAllowed
from incidents import services
from incidents.models import Incident, State
from tests.factories import IncidentFactory


@pytest.mark.parametrize(
    ("root_cause", "resolution", "missing"),
    [
        ("", "", ["root_cause", "resolution"]),
        ("ディスク枯渇", "", ["resolution"]),
        ("", "ログを削除", ["root_cause"]),
        ("   ", "ログを削除", ["root_cause"]),
    ],
)
def test_close_is_refused_until_root_cause_and_resolution(
    sysadmin, root_cause, resolution, missing
):
    incident = IncidentFactory(state=State.POSTMORTEM, root_cause=root_cause, resolution=resolution)

    with pytest.raises(ActionNotAllowed) as refused:
        services.incident_transition(incident=incident, action="close", actor=sysadmin)

    assert refused.value.missing == missing
    assert Incident.objects.get(pk=incident.pk).state == State.POSTMORTEM


def test_close_succeeds_once_root_cause_and_resolution_are_written(sysadmin):
    incident = IncidentFactory(state=State.POSTMORTEM)
    services.incident_update(
        incident=incident, actor=sysadmin, root_cause="ディスク枯渇", resolution="ログを削除"
    )

    incident = services.incident_transition(incident=incident, action="close", actor=sysadmin)

    assert incident.state == State.CLOSED
