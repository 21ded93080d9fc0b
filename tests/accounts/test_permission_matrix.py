"""docs/PERMISSIONS.md's table, cell by cell: every role takes every action through every door
(admin, API, chat, chat button, e-mail link, board). Allowed: the change is made, as that
person. Refused: the door's refusal, and nothing changed. n/a: the door does not offer it, and
nothing changed.

The table is Markdown so that the page people read is the one the test holds the code to."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.messages import WARNING, get_messages
from django.db import connection, transaction
from django.test import Client, override_settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from rest_framework.test import APIClient

from accounts.models import ChatIdentity, UsedToken
from accounts.roles import ROLES
from accounts.tokens import token_read
from changes.models import Change
from chat.auth import button_token
from checklists.models import ChecklistTemplate, RunItem
from checklists.selectors import incident_runs
from config.base import SYSTEM
from escalation.models import Escalation, EscalationLevel, EscalationPolicy
from heartbeats.models import Heartbeat
from heartbeats.services import heartbeat_create
from incidents import services
from incidents.models import Incident, State, TimelineEvent
from maintenance.models import MaintenanceWindow
from notices.emails import notice_message
from notices.links import ACT_PURPOSE, act_url
from notices.models import Channel, Notice
from oncall.models import Override, Schedule
from tests.admin_forms import form_for
from tests.chat.conftest import MATTERMOST_TOKEN, SLACK_SECRETS, command_body, slack_signature
from tests.factories import UserFactory, token_for
from vendors.models import Vendor, VendorTicket

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "PERMISSIONS.md"
NO_ROLE = "no role"
ROLE_NAMES = [*ROLES, NO_ROLE]
SHORTHAND = {"responders": ["operations", "developers", "sysadmins"]}
DOORS = ["admin", "API", "chat", "chat button", "e-mail link", "board"]
WORKSPACE = "T0001"
TITLE = "matrix incident"
TEMPLATE = "production-release"
FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# What each action needs from the roles (accounts/roles.py): no door may grant more.
PERMISSION = {
    "declare": "incidents.add_incident",
    "acknowledge": "incidents.acknowledge_incident",
    "investigate": "incidents.investigate_incident",
    "recover": "incidents.recover_incident",
    "resolve": "incidents.resolve_incident",
    "close": "incidents.close_incident",
    "dismiss": "incidents.dismiss_incident",
    "reopen": "incidents.reopen_incident",
    "escalate": "incidents.escalate_incident",
    "note": "incidents.add_note",
    "severity": "incidents.change_incident",
    "tick": "checklists.tick_runitem",
    "edit policy": "escalation.change_escalationpolicy",
    "open window": "maintenance.add_maintenancewindow",
    "edit heartbeat": "heartbeats.change_heartbeat",
    "edit template": "checklists.change_checklisttemplate",
    "vendor ticket": "vendors.add_vendorticket",
    "view": "incidents.view_incident",
    "record change": "changes.add_change",
    "add override": "oncall.add_override",
}
# The state each action starts from, and where a lifecycle action leads.
SOURCE = {
    "investigate": State.TRIAGE,
    "recover": State.INVESTIGATING,
    "resolve": State.INVESTIGATING,
    "close": State.POSTMORTEM,
    "reopen": State.POSTMORTEM,
}
TARGET = {
    "acknowledge": State.TRIAGE,
    "investigate": State.INVESTIGATING,
    "recover": State.RECOVERING,
    "resolve": State.POSTMORTEM,
    "close": State.CLOSED,
    "dismiss": State.DISMISSED,
    "reopen": State.INVESTIGATING,
}
PATH_TO = {
    State.TRIAGE: ["acknowledge"],
    State.INVESTIGATING: ["acknowledge", "investigate"],
    State.POSTMORTEM: ["resolve"],
}


def read_table(text: str) -> dict[tuple[str, str], set[str] | None]:
    """(action, door) → the roles allowed, or None where the door does not offer it."""
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    header = next(line for line in text.splitlines() if line.startswith("| action |"))
    doors = [cell.strip() for cell in header.strip("|").split("|")][1:]
    assert doors == DOORS, doors
    table = {}
    for row in rows:
        action, *cells = [cell.strip() for cell in row.strip("|").split("|")]
        action = action.strip("`")
        assert len(cells) == len(DOORS), row
        for door, cell in zip(DOORS, cells, strict=True):
            if cell == "n/a":
                table[action, door] = None
                continue
            names = {name.strip() for name in cell.split(",")}
            roles = {role for name in names for role in SHORTHAND.get(name, [name])}
            assert roles <= set(ROLE_NAMES), (row, roles - set(ROLE_NAMES))
            table[action, door] = roles
    return table


MATRIX = read_table(TABLE.read_text(encoding="utf-8"))
CELLS = [
    pytest.param(
        role,
        action,
        door,
        "n/a" if allowed is None else ("allowed" if role in allowed else "refused"),
        id=f"{action}-{door}-{role}".replace(" ", "_"),
    )
    for (action, door), allowed in MATRIX.items()
    for role in ROLE_NAMES
]


# --- the world the cells act in ----------------------------------------------------------


@dataclass
class World:
    """One person per role, each linked to a Slack and a Mattermost account, and one incident
    per action in the state that action starts from, whose level 1 e-mailed every one of them
    and whose level 2 is due in 15 minutes. Built once; each cell's changes are rolled back."""

    users: dict[str, object]
    incidents: dict[str, Incident]
    policy: EscalationPolicy
    items: dict[str, int]  # action → the first item of its incident's checklist
    notices: dict[tuple[str, str], int]  # (action, role) → the e-mail that person received
    heartbeat: Heartbeat


def chat_id(user) -> str:
    return f"U{user.pk}"


def build_world() -> World:
    users = {role: UserFactory(roles=[] if role == NO_ROLE else [role]) for role in ROLE_NAMES}
    for user in users.values():
        for provider in ("slack", "mattermost"):
            ChatIdentity.objects.create(
                user=user, provider=provider, workspace=WORKSPACE, external_id=chat_id(user)
            )
    policy = EscalationPolicy.objects.create(name="matrix", stop_on="resolved")
    first = EscalationLevel.objects.create(policy=policy, number=1, name="L1", delay=timedelta(0))
    first.users.set(users.values())
    EscalationLevel.objects.create(
        policy=policy,
        number=2,
        name="L2",
        delay=timedelta(minutes=15),
        emails=["level2@example.test"],
    )
    incidents = {}
    for action in PERMISSION:
        incident = services.incident_declare(
            actor=SYSTEM, title=TITLE, severity="P1", policy_name=policy.name
        )
        if action == "close":
            services.incident_update(
                incident=incident, actor=SYSTEM, root_cause="DB接続数の枯渇", resolution="拡張"
            )
            RunItem.objects.filter(run__incident=incident).update(status=RunItem.Status.DONE)
        for step in PATH_TO.get(SOURCE.get(action), []):
            incident = services.incident_transition(incident=incident, action=step, actor=SYSTEM)
        incidents[action] = incident
    items = {
        action: next(item.pk for run in incident_runs(incident) for item in run.items.all())
        for action, incident in incidents.items()
    }
    notices = {
        (action, role): Notice.objects.get(
            incident=incident, channel=Channel.EMAIL, recipient=user.email
        ).pk
        for action, incident in incidents.items()
        for role, user in users.items()
    }
    heartbeat = heartbeat_create(
        actor=SYSTEM, name="matrix", schedule="cron", cron="0 3 * * *", severity="P1"
    )
    Schedule.objects.create(name="matrix")
    return World(users, incidents, policy, items, notices, heartbeat)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built inside a transaction that outlives the module's tests (each test's own is a
    savepoint within it) and is rolled back at the end: the world costs one build, not 630."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            with override_settings(PASSWORD_HASHERS=FAST_HASHER):
                yield build_world()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@dataclass
class Cell:
    role: str
    action: str
    user: object
    incident: Incident
    item_pk: int
    policy: EscalationPolicy
    notice_pk: int
    chat_id: str
    heartbeat: Heartbeat
    web: Client = field(default_factory=lambda: Client(headers={"accept-language": "en"}))


def cell_in(world: World, role: str, action: str) -> Cell:
    user, incident = world.users[role], Incident.objects.get(pk=world.incidents[action].pk)
    notice = world.notices[action, role]
    return Cell(
        role,
        action,
        user,
        incident,
        world.items[action],
        world.policy,
        notice,
        chat_id(user),
        world.heartbeat,
    )


def snapshot(cell: Cell) -> dict:
    """Everything an action could change: the incident's row, and how many rows each record
    of what happened holds and when the last changed (three queries: every cell takes two)."""
    counted = [
        Incident,
        TimelineEvent,
        Escalation,
        Notice,
        EscalationLevel,
        UsedToken,
        LogEntry,
        MaintenanceWindow,
        Change,
        VendorTicket,
        Override,
    ]
    parts = [f"(SELECT COUNT(*) FROM {model._meta.db_table})" for model in counted]
    incidents, policies, items = (
        Incident._meta.db_table,
        EscalationPolicy._meta.db_table,
        RunItem._meta.db_table,
    )
    parts += [
        f"(SELECT MAX(updated_at) FROM {incidents})",
        f"(SELECT MAX(updated_at) FROM {policies})",
        f"(SELECT COUNT(*) FROM {items} WHERE status <> 'open')",
        f"(SELECT MAX(at) FROM {items})",
    ]
    labels = [f"{model.__name__} rows" for model in counted]
    labels += ["last incident change", "last policy change", "items not open", "last tick"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts))  # noqa: S608 — table names from models
        totals = dict(zip(labels, cursor.fetchone(), strict=True))
    return totals | {
        "incident": Incident.objects.filter(pk=cell.incident.pk).values().get(),
        "levels": list(EscalationLevel.objects.filter(policy=cell.policy).values()),
        "heartbeat": Heartbeat.objects.filter(pk=cell.heartbeat.pk).values().get(),
        "template": ChecklistTemplate.objects.filter(key=TEMPLATE).values().get(),
    }


@dataclass
class Answer:
    status: int
    text: str
    messages: list[tuple[int, str]] = field(default_factory=list)


def web_answer(response) -> Answer:
    messages = [(m.level, str(m)) for m in get_messages(response.wsgi_request)]
    return Answer(response.status_code, response.content.decode(), messages)


def ja(text: str) -> str:
    """Chat answers are in the person's notice language: Japanese when they chose none."""
    with translation.override("ja"):
        return _(text)


# --- the doors ---------------------------------------------------------------------------

INCIDENTS = "/admin/incidents/incident"


def admin_declare_form() -> dict:
    now = timezone.localtime(timezone.now() - timedelta(minutes=1))
    empty = ("timeline", "alerts", "checklist_runs", "vendor_tickets", "action_items")
    counts = ("TOTAL_FORMS", "INITIAL_FORMS")
    return {
        "title": "declared in the admin",
        "severity": "P2",
        "category": "system",
        "detected_at_0": now.strftime("%Y-%m-%d"),
        "detected_at_1": now.strftime("%H:%M:%S"),
        **{f"{prefix}-{count}": "0" for prefix in empty for count in counts},
    }


def admin_policy_form(policy: EscalationPolicy, description: str) -> dict:
    levels = list(policy.levels.order_by("number"))
    data = {
        "name": policy.name,
        "description": description,
        "stop_on": policy.stop_on,
        "severities": json.dumps(policy.severities),
        "categories": json.dumps(policy.categories),
        "levels-TOTAL_FORMS": str(len(levels)),
        "levels-INITIAL_FORMS": str(len(levels)),
    }
    for n, level in enumerate(levels):
        hours, rest = divmod(int(level.delay.total_seconds()), 3600)
        data |= {
            f"levels-{n}-id": str(level.pk),
            f"levels-{n}-policy": str(policy.pk),
            f"levels-{n}-number": str(level.number),
            f"levels-{n}-name": level.name,
            f"levels-{n}-delay": f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}",
            f"levels-{n}-min_severity": level.min_severity,
            f"levels-{n}-emails": json.dumps(level.emails),
            f"levels-{n}-users": [str(pk) for pk in level.users.values_list("pk", flat=True)],
        }
    return data


def window_ends() -> datetime:
    return timezone.localtime(timezone.now() + timedelta(hours=2))


def admin_window_form() -> dict:
    ends = window_ends()
    return {
        "service": "payments",
        "matchers": "{}",
        "starts_at_0": "",
        "starts_at_1": "",
        "ends_at_0": ends.strftime("%Y-%m-%d"),
        "ends_at_1": ends.strftime("%H:%M:%S"),
        "reason": "リリース (管理画面)",
        "pages_p0": "on",
    }


def override_period() -> tuple[datetime, datetime]:
    starts = timezone.localtime(timezone.now() + timedelta(hours=1))
    return starts, starts + timedelta(hours=4)


def admin_heartbeat_form(heartbeat: Heartbeat) -> dict:
    return {
        "name": heartbeat.name,
        "description": "edited in the admin",
        "schedule": heartbeat.schedule,
        "interval": "",
        "cron": heartbeat.cron,
        "grace": "00:30:00",
        "severity": heartbeat.severity,
        "policy": heartbeat.policy,
        "enabled": "on",
        "checklist_item": "",
    }


def admin_template_form(template: ChecklistTemplate) -> dict:
    return {
        "key": template.key,
        "name_ja": template.name_ja,
        "name_en": "edited in the admin",
        "kind": template.kind,
        "source": template.source,
        "severities": "[]",
        "categories": "[]",
        "schedule": "",
        "is_active": "on",
        "items-TOTAL_FORMS": "0",
        "items-INITIAL_FORMS": "0",
    }


def through_admin(cell: Cell) -> Answer:
    web, incident, action = cell.web, cell.incident, cell.action
    web.force_login(cell.user)
    change = f"{INCIDENTS}/{incident.pk}/change/"
    if action == "declare":
        return web_answer(web.post(f"{INCIDENTS}/add/", admin_declare_form()))
    if action == "view":
        return web_answer(web.get(change))
    if action == "dismiss":
        url = f"{INCIDENTS}/{incident.pk}/transition/dismiss/"
        return web_answer(web.post(url, {"reason": "誤報"}))
    if action in TARGET:
        answer = web_answer(web.post(change, form_for(incident, _fsm_transition_to=action)))
        if action == "acknowledge" and cell.role not in MATRIX["acknowledge", "admin"]:
            # The list's bulk action is another way in: it must refuse as well.
            bulk = {"action": "bulk_acknowledge", "_selected_action": [incident.pk]}
            other = web_answer(web.post(f"{INCIDENTS}/", bulk))
            assert admin_refused(other), (other.status, other.messages)
        return answer
    if action == "escalate":
        url = f"{INCIDENTS}/{incident.pk}/escalate/"
        return web_answer(web.post(url, {"escalate_reason": "手動で"}))
    if action == "note":
        return web_answer(web.post(change, form_for(incident, new_note="管理画面からのメモ")))
    if action == "severity":
        return web_answer(web.post(change, form_for(incident, severity="P2")))
    if action == "tick":
        url = f"/admin/checklists/checklistrun/item/{cell.item_pk}/done/"
        return web_answer(web.post(url))
    if action == "edit policy":
        url = f"/admin/escalation/escalationpolicy/{cell.policy.pk}/change/"
        return web_answer(web.post(url, admin_policy_form(cell.policy, "edited in the admin")))
    if action == "open window":
        url = "/admin/maintenance/maintenancewindow/add/"
        return web_answer(web.post(url, admin_window_form()))
    if action == "edit heartbeat":
        url = f"/admin/heartbeats/heartbeat/{cell.heartbeat.pk}/change/"
        return web_answer(web.post(url, admin_heartbeat_form(cell.heartbeat)))
    if action == "edit template":
        template = ChecklistTemplate.objects.get(key=TEMPLATE)
        url = f"/admin/checklists/checklisttemplate/{template.pk}/change/"
        return web_answer(web.post(url, admin_template_form(template)))
    if action == "record change":
        now = timezone.localtime(timezone.now())
        form = {
            "kind": "config",
            "title": "recorded in the admin",
            "service": "payments",
            "started_at_0": now.strftime("%Y-%m-%d"),
            "started_at_1": now.strftime("%H:%M:%S"),
            "links": "[]",
        }
        return web_answer(web.post("/admin/changes/change/add/", form))
    if action == "add override":
        starts, ends = override_period()
        form = {
            "schedule": Schedule.objects.get(name="matrix").pk,
            "user": cell.user.pk,
            "starts_at_0": starts.strftime("%Y-%m-%d"),
            "starts_at_1": starts.strftime("%H:%M:%S"),
            "ends_at_0": ends.strftime("%Y-%m-%d"),
            "ends_at_1": ends.strftime("%H:%M:%S"),
            "reason": "管理画面から交代",
        }
        return web_answer(web.post("/admin/oncall/override/add/", form))
    if action == "vendor ticket":
        vendor = Vendor.objects.get(key="supabase")
        form = {"incident": incident.pk, "vendor": vendor.pk, "reference": "SUP-1", "note": ""}
        return web_answer(web.post("/admin/vendors/vendorticket/add/", form))
    raise AssertionError(action)


def through_api(cell: Cell) -> Answer:
    api = APIClient(headers={"accept-language": "en"})
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(cell.user)}")
    base = f"/api/v1/incidents/{cell.incident.key}/"
    action = cell.action
    if action == "declare":
        body = {"title": "from the API", "severity": "P2"}
        response = api.post("/api/v1/incidents/", body, format="json")
    elif action == "view":
        response = api.get(base)
    elif action in TARGET:
        body = {"reason": "誤報"} if action == "dismiss" else {}
        response = api.post(f"{base}{action}/", body, format="json")
    elif action == "escalate":
        response = api.post(f"{base}escalate/", {"reason": "手動で"}, format="json")
    elif action == "note":
        response = api.post(f"{base}notes/", {"message": "APIからのメモ"}, format="json")
    elif action == "severity":
        response = api.patch(base, {"severity": "P2"}, format="json")
    elif action == "tick":
        response = api.post(f"/api/v1/checklists/items/{cell.item_pk}/done/", {}, format="json")
    elif action == "edit policy":
        url = f"/api/v1/escalation-policies/{cell.policy.pk}/"
        response = api.patch(url, {"description": "edited through the API"}, format="json")
    elif action == "open window":
        body = {"service": "payments", "ends_at": window_ends().isoformat(), "reason": "リリース"}
        response = api.post("/api/v1/maintenance-windows/", body, format="json")
    elif action == "edit heartbeat":
        url = f"/api/v1/heartbeats/{cell.heartbeat.pk}/"
        response = api.patch(url, {"description": "edited through the API"}, format="json")
    elif action == "edit template":
        url = f"/api/v1/checklists/templates/{ChecklistTemplate.objects.get(key=TEMPLATE).pk}/"
        response = api.patch(url, {"name_en": "edited through the API"}, format="json")
    elif action == "record change":
        body = {"kind": "config", "title": "recorded through the API", "service": "payments"}
        response = api.post("/api/v1/changes/", body, format="json")
    elif action == "add override":
        starts, ends = override_period()
        body = {
            "user": cell.user.username,
            "starts_at": starts.isoformat(),
            "ends_at": ends.isoformat(),
        }
        schedule = Schedule.objects.get(name="matrix")
        response = api.post(f"/api/v1/schedules/{schedule.pk}/overrides/", body, format="json")
    elif action == "vendor ticket":
        body = {"vendor": "supabase", "reference": "SUP-1"}
        response = api.post(f"{base}vendor-tickets/", body, format="json")
    else:
        raise AssertionError(action)
    return Answer(response.status_code, response.content.decode())


CHAT_COMMANDS = {
    "declare": "declare P2 from chat",
    "acknowledge": "ack {key}",
    "investigate": "investigate {key}",
    "recover": "recover {key}",
    "resolve": "resolve {key}",
    "close": "close {key}",
    "dismiss": "dismiss {key} 誤報",
    "reopen": "reopen {key}",
    "escalate": "escalate {key} 手動で",
    "note": "note {key} チャットからのメモ",
    "severity": "severity {key} P2",
    "tick": "check {key} 1",
    "view": "status {key}",
    # No command changes a policy: what someone might try.
    "edit policy": "policy matrix edited from chat",
    "open window": "maintenance payments 1h リリース",
    "edit heartbeat": "heartbeat matrix paused from chat",
    # Templates are edited in the admin, the API or the configuration file, not from chat.
    "edit template": "template production-release edited from chat",
    # Changes are recorded by pipelines and people at the admin or the API, not from chat.
    "record change": "change config from chat",
    # Tickets are recorded in the admin and the API: what someone might try.
    "vendor ticket": "vendor {key} supabase SUP-1",
    # Shifts are taken in the admin and the API: what someone might try.
    "add override": "oncall take matrix 4h",
}


def through_chat(cell: Cell) -> Answer:
    """A Slack slash command, signed as Slack signs it."""
    text = CHAT_COMMANDS[cell.action].format(key=cell.incident.key)
    body = command_body(text, cell.chat_id, team_id=WORKSPACE)
    now = int(time.time())
    response = cell.web.post(
        "/api/v1/chat/slack/commands",
        body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=str(now),
        HTTP_X_SLACK_SIGNATURE=slack_signature(body, now, SLACK_SECRETS[0]),
    )
    assert response.status_code == 200, response.content
    return Answer(200, response.json()["text"])


def through_button(cell: Cell) -> Answer:
    """A Mattermost button press, carrying the token Hikeshi signs into its posts (for an
    action Hikeshi posts no button for, a token it might have signed all the same)."""
    press = {
        "user_id": cell.chat_id,
        "team_id": WORKSPACE,
        "context": {"token": button_token(key=cell.incident.key, action=cell.action)},
    }
    response = cell.web.post(
        "/api/v1/chat/mattermost/actions", press, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    if "update" in body:
        return Answer(200, body["update"]["message"])
    return Answer(403, body["ephemeral_text"])


ACT_LINK = re.compile(r"https?://[^/\s]+(/act/[^\s\"<]+)")


def mailed_links(cell: Cell) -> list[str]:
    """The /act/ links of the e-mail the person received."""
    message = notice_message(Notice.objects.select_related("incident").get(pk=cell.notice_pk))
    parts = [message.body, *(content for content, _type in message.alternatives)]
    return sorted({path for part in parts for path in ACT_LINK.findall(part)})


def link_action(path: str) -> str:
    return token_read(ACT_PURPOSE, path.removeprefix("/act/"), max_age=3600).payload["action"]


def through_link(cell: Cell) -> Answer:
    (path,) = mailed_links(cell)
    if cell.action == "view":
        return web_answer(cell.web.get(path))
    return web_answer(cell.web.post(path))


def through_board(cell: Cell) -> Answer:
    cell.web.force_login(cell.user)
    if cell.action == "view":
        return web_answer(cell.web.get("/ops/monitoring"))
    return web_answer(cell.web.post(f"/ops/monitoring/{cell.incident.key}/acknowledge"))


THROUGH = {
    "admin": through_admin,
    "API": through_api,
    "chat": through_chat,
    "chat button": through_button,
    "e-mail link": through_link,
    "board": through_board,
}


# --- what allowed, refused and n/a look like at each door ---------------------------------


def admin_refused(answer: Answer) -> bool:
    if answer.status == 403:
        return True
    warned = [text for level, text in answer.messages if level >= WARNING]
    return answer.status in (200, 302) and bool(warned)


def refused_at(door: str, answer: Answer) -> bool:
    if door == "admin":
        return admin_refused(answer)
    if door == "API":
        return answer.status == 403 and json.loads(answer.text)["error"] == "permission_denied"
    if door in ("chat", "chat button"):
        return ja("Your role may not do this.") in answer.text
    if door == "e-mail link":
        return answer.status == 403 and _("Your role may not do this.") in answer.text
    if door == "board":
        mine = _("Your role may not do this.")
        return answer.status == 403 or any(text == mine for _level, text in answer.messages)
    raise AssertionError(door)


def allowed_at(door: str, answer: Answer) -> bool:
    if door == "admin":
        return answer.status in (200, 302) and not admin_refused(answer)
    if door == "API":
        return answer.status in (200, 201)
    if door in ("chat", "chat button"):
        return answer.status == 200 and ja("Your role may not do this.") not in answer.text
    return answer.status in (200, 302) and not refused_at(door, answer)


def not_offered(cell: Cell, door: str) -> None:
    """The door has no way to take the action: looked for, it answers so, and acts not."""
    key = cell.incident.key
    slug = cell.action.replace(" ", "-")
    if door == "chat":
        answer = through_chat(cell)
        tried = CHAT_COMMANDS[cell.action].split()[0]
        assert ja("Unknown command: %(name)s") % {"name": tried} in answer.text, answer.text
    elif door == "chat button":
        answer = through_button(cell)
        assert ja("This button is not one of Hikeshi's.") in answer.text, answer.text
    elif door == "e-mail link":
        offered = {link_action(path) for path in mailed_links(cell)}
        assert cell.action not in offered, offered
        link = act_url(Notice.objects.get(pk=cell.notice_pk)).removeprefix("http://testserver")
        assert cell.web.post(f"{link}/{slug}").status_code == 404
    elif door == "board":
        cell.web.force_login(cell.user)
        assert cell.web.post(f"/ops/monitoring/{key}/{slug}").status_code == 404
    else:
        raise AssertionError(f"{door} offers every action")


def assert_done(cell: Cell, before: dict, answer: Answer) -> None:
    """The action's change, recorded as the person who acted."""
    user, incident, action = cell.user, Incident.objects.get(pk=cell.incident.pk), cell.action
    if action == "declare":
        assert Incident.objects.count() == before["Incident rows"] + 1
        assert Incident.objects.filter(created_by=user).exists()
    elif action in TARGET:
        assert incident.state == TARGET[action]
        assert incident.timeline.filter(kind=action, actor=user).exists()
    elif action == "escalate":
        assert incident.escalation_level == 2
        assert Escalation.objects.filter(
            incident=incident, level=2, reason=Escalation.Reason.MANUAL, actor=user
        ).exists()
    elif action == "note":
        assert incident.timeline.filter(kind=TimelineEvent.Kind.NOTE, actor=user).exists()
    elif action == "severity":
        assert incident.severity == "P2"
        assert incident.timeline.filter(kind=TimelineEvent.Kind.SEVERITY, actor=user).exists()
    elif action == "tick":
        item = RunItem.objects.get(pk=cell.item_pk)
        assert (item.status, item.by) == (RunItem.Status.DONE, user)
    elif action == "edit policy":
        assert EscalationPolicy.objects.get(pk=cell.policy.pk).description.startswith("edited")
    elif action == "open window":
        window = MaintenanceWindow.objects.get(opened_by=user)
        assert LogEntry.objects.get_for_object(window).get().actor == user
    elif action == "edit heartbeat":
        assert Heartbeat.objects.get(pk=cell.heartbeat.pk).description.startswith("edited")
        assert LogEntry.objects.get_for_object(cell.heartbeat).filter(actor=user).exists()
    elif action == "edit template":
        template = ChecklistTemplate.objects.get(key=TEMPLATE)
        assert template.name_en.startswith("edited")
        assert LogEntry.objects.get_for_object(template).filter(actor=user).exists()
    elif action == "record change":
        assert Change.objects.count() == before["Change rows"] + 1
        assert Change.objects.filter(recorded_by=user).exists()
    elif action == "vendor ticket":
        ticket = VendorTicket.objects.get(incident=incident)
        assert (ticket.reference, ticket.opened_by) == ("SUP-1", user)
        kind = TimelineEvent.Kind.VENDOR_TICKET_OPENED
        assert incident.timeline.filter(kind=kind, actor=user).exists()
    elif action == "add override":
        override = Override.objects.get(created_by=user)
        assert override.user == user
        assert LogEntry.objects.get_for_object(override).get().actor == user
    elif action == "view":
        assert TITLE in answer.text and incident.key in answer.text
        assert snapshot(cell) == before, "reading changed something"
    else:
        raise AssertionError(action)


@pytest.fixture(autouse=True)
def doors(settings, monkeypatch):
    settings.SLACK_SIGNING_SECRETS = SLACK_SECRETS
    settings.MATTERMOST_TOKENS = [MATTERMOST_TOKEN]
    settings.SITE_URL = "http://testserver"
    # The board's health panel is not under test here; its checks run on threads and
    # connections of their own, outside the test's transaction.
    monkeypatch.setattr(
        "ops.board._health_summary", lambda: {"status": "ok", "label": "", "problems": []}
    )


@pytest.mark.hostile
@pytest.mark.parametrize(("role", "action", "door", "expected"), CELLS)
def test_each_role_may_do_through_each_door_what_the_table_says(
    world, role, action, door, expected
):
    cell = cell_in(world, role, action)
    before = snapshot(cell)

    if expected == "n/a":
        not_offered(cell, door)
        assert snapshot(cell) == before
        return
    with translation.override("en"):
        answer = THROUGH[door](cell)
        if expected == "allowed":
            assert allowed_at(door, answer), (answer.status, answer.messages, answer.text[:600])
            assert_done(cell, before, answer)
        else:
            assert refused_at(door, answer), (answer.status, answer.messages, answer.text[:600])
            assert action != "view" or TITLE not in answer.text
            assert snapshot(cell) == before


def test_no_door_lets_a_role_do_more_than_its_permissions():
    """The table itself: a role named in a cell holds the action's permission."""
    holds = {
        role: {
            f"{p.content_type.app_label}.{p.codename}"
            for p in Group.objects.get(name=role).permissions.select_related("content_type")
        }
        for role in ROLES
    } | {NO_ROLE: set()}
    too_much = [
        (action, door, role)
        for (action, door), allowed in MATRIX.items()
        for role in allowed or ()
        if PERMISSION[action] not in holds[role]
    ]
    assert too_much == []


def test_the_table_covers_every_action_at_every_door():
    assert {action for action, _door in MATRIX} == set(PERMISSION)
    assert len(MATRIX) == len(PERMISSION) * len(DOORS)
