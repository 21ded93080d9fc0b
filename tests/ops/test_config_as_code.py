"""Configuration as code: `manage.py config export | apply | schema` (ops.configcode)."""

import io
import json
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml
from auditlog.models import LogEntry
from django.core.management import call_command
from django.core.management.base import CommandError

from checklists.models import ChecklistTemplate, KnownProblem
from config.base import SYSTEM
from escalation.models import EscalationPolicy, Team
from escalation.services.policies import team_update
from heartbeats.models import Heartbeat
from integrations.models import Integration
from integrations.services import integration_create
from ops.configcode import schema_text

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"


def config(*args: str) -> str:
    out = io.StringIO()
    call_command("config", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def refused(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        config(*args)
    return caught.value


@pytest.fixture
def configured(make_user):
    """The runbook defaults, with people in a team and a level, and an integration."""
    alice, bob = make_user("managers", username="alice"), make_user(username="bob")
    team_update(team=Team.objects.get(name="operations"), actor=SYSTEM, members=[bob, alice])
    EscalationPolicy.objects.get(name="runbook").levels.get(number=1).users.set([alice])
    integration_create(name="prometheus", kind="alertmanager", actor=SYSTEM, policy="runbook")
    return alice


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "hikeshi.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def empty_the_configuration():
    for model in (Heartbeat, ChecklistTemplate, KnownProblem, EscalationPolicy, Team, Integration):
        model.objects.all().delete()


def test_the_export_of_the_runbook_defaults_is_stable_and_fits_the_schema():
    first, second = config("export"), config("export")
    assert first == second
    data = yaml.safe_load(first)
    jsonschema.Draft202012Validator(json.loads(schema_text())).validate(data)
    keys = [template["key"] for template in data["checklist_templates"]]
    assert keys == sorted(keys) and "production-release" in keys
    assert data["heartbeats"][0]["checklist_item"] == {"template": "daily", "item": 4}


def test_export_then_apply_on_an_empty_database_gives_the_same_bytes(configured, tmp_path):
    exported = config("export")
    jsonschema.Draft202012Validator(json.loads(schema_text())).validate(yaml.safe_load(exported))
    empty_the_configuration()
    out = config("apply", write(tmp_path, exported))
    assert "+ teams operations" in out and "secret (shown once)" in out
    assert config("export") == exported
    assert list(Team.objects.get(name="operations").members.values_list("username", flat=True))


def test_no_secret_is_exported(configured):
    team_update(
        team=Team.objects.get(name="operations"),
        actor=SYSTEM,
        chat_kind="slack",
        chat_webhook_url="https://hooks.slack.com/services/T000/B000/secretpart",
    )
    integration = Integration.objects.get(name="prometheus")
    exported = config("export")
    assert "secretpart" not in exported and "slack" not in exported
    assert integration.secret_hash not in exported and "secret_hint" not in exported
    assert str(Heartbeat.objects.get(name="backup").uuid) not in exported


def test_a_second_apply_changes_nothing_and_writes_no_audit_entry(configured, tmp_path):
    text = config("export").replace("delay: 15m", "delay: 20m")
    path = write(tmp_path, text)
    out = config("apply", path, "--as", "alice")
    assert 'levels[1].delay: "15m" → "20m"' in out
    assert LogEntry.objects.filter(actor=configured).exists()  # audited as the given actor
    entries = LogEntry.objects.count()
    assert config("apply", path, "--as", "alice") == ""
    assert LogEntry.objects.count() == entries
    assert config("apply", "--check", path) == ""


def test_the_same_thing_said_in_other_words_is_in_sync(tmp_path):
    text = (
        config("export")
        .replace("delay: 1h\n", "delay: 60m\n")
        .replace("grace: 30m", "grace: 1800s")
    )
    assert config("apply", "--check", write(tmp_path, text)) == ""


def test_check_exits_1_with_a_diff_naming_a_change_made_through_a_service(tmp_path):
    path = write(tmp_path, config("export"))
    team_update(team=Team.objects.get(name="operations"), actor=SYSTEM, email="ops@example.test")
    error = refused("apply", "--check", path)
    assert error.returncode == 1
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("config", "apply", "--check", path, stdout=out)
    assert out.getvalue() == ('~ teams operations\n    email: "ops@example.test" → ""\n')
    assert Team.objects.get(name="operations").email == "ops@example.test"  # nothing written


def test_objects_the_file_does_not_mention_are_left_alone_unless_pruned(configured, tmp_path):
    data = yaml.safe_load(config("export"))
    data["known_problems"] = []
    data["integrations"] = []
    path = write(tmp_path, yaml.safe_dump(data, allow_unicode=True))
    out = config("apply", path)
    assert "= known_problems slow-response (not in the file: left alone)" in out
    assert KnownProblem.objects.count() == 3
    out = config("apply", "--prune", path)
    assert "- known_problems slow-response" in out
    assert KnownProblem.objects.count() == 0
    assert Integration.objects.filter(name="prometheus").exists()  # never deleted


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (lambda d: d["teams"][2].update(colour="red"), "teams[2]", "'colour' was unexpected"),
        (
            lambda d: d["escalation_policies"][0]["levels"][1].update(delay="soon"),
            "escalation_policies[0].levels[1].delay",
            "does not match",
        ),
        (lambda d: d["teams"][0]["members"].append("nobody"), "teams[0].members[0]", "nobody"),
        (
            lambda d: d["escalation_policies"][0]["levels"][3]["teams"].append("board"),
            "escalation_policies[0].levels[3].teams[1]",
            "'board'",
        ),
        (lambda d: d.update(version=2), "version", "1 was expected"),
        (  # a rule of the model: not an address
            lambda d: d["teams"][1].update(email="not an address"),
            "teams[1].email",
            "",
        ),
        (  # a rule of the model, found by the service while applying
            lambda d: d["heartbeats"][0].update(cron="0 0 30 2 *"),
            "heartbeats[0].cron",
            "never comes true",
        ),
    ],
)
def test_a_bad_file_is_refused_with_the_path_named_and_nothing_written(
    tmp_path, edit, path, message
):
    data = yaml.safe_load(config("export"))
    data["teams"][2]["email"] = "changed@example.test"  # a good change in the same file
    edit(data)
    before = config("export")
    error = refused("apply", write(tmp_path, yaml.safe_dump(data, allow_unicode=True)))
    assert error.returncode == 2
    assert f"{path}: " in str(error) and message in str(error)
    assert config("export") == before


def test_an_actor_without_the_permission_writes_nothing(make_user, tmp_path):
    make_user("operations", username="responder")
    path = write(tmp_path, config("export").replace("delay: 15m", "delay: 20m"))
    error = refused("apply", path, "--as", "responder")
    assert error.returncode == 2 and "escalation.change_escalationpolicy" in str(error)
    assert "delay: 15m" in config("export")


def test_the_markdown_export_writes_the_runbooks_checklists(tmp_path):
    config("export", "--markdown", str(tmp_path))
    for name in ("production-release.md", "incident-response.md", "security-audit.md"):
        assert (tmp_path / name).exists()
    golden = (GOLDEN / "production-release.md").read_bytes()
    assert (tmp_path / "production-release.md").read_bytes() == golden
    text = (tmp_path / "incident-response.md").read_text()
    assert "- [ ] システム状態確認 / Check system status — _任意 / optional_" in text


def test_the_committed_schema_is_the_generated_one():
    assert config("schema") == schema_text()
    assert (ROOT / "docs" / "hikeshi.schema.json").read_text(encoding="utf-8") == schema_text()


def test_an_integrations_grouping_rule_is_applied_and_exported_in_its_own_words(
    configured, tmp_path
):
    text = config("export").replace(
        "  group_by: []\n  group_window: 15m\n",
        "  group_by:\n  - alertname\n  - cluster\n  group_window: 90s\n",
    )
    assert "group_by:\n  - alertname" in text

    out = config("apply", write(tmp_path, text))

    assert 'group_window: "15m" → "1m30s"' in out
    integration = Integration.objects.get(name="prometheus")
    assert integration.group_by == ["alertname", "cluster"]
    assert integration.group_window == timedelta(seconds=90)
    assert config("apply", "--check", write(tmp_path, text)) == ""


def test_a_label_name_prometheus_would_refuse_is_not_a_grouping_rule(configured, tmp_path):
    text = config("export").replace("  group_by: []\n", "  group_by:\n  - alert name\n")

    error = refused("apply", write(tmp_path, text))

    assert "group_by" in str(error)
    assert Integration.objects.get(name="prometheus").group_by == []
