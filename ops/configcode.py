"""Configuration as code: Hikeshi's settings as one YAML file a team keeps in its repository.

`config_export` writes teams, on-call schedules, escalation policies, checklist templates,
known problems, heartbeats and integrations (never a secret; nor a schedule's overrides,
which are the day's operations rather than configuration) sorted and with every key, so
that the same database always gives the same bytes. `config_plan` compares a file with the
database field by field; `config_apply` makes the database say what the file says, through
each app's own services (permission, validation, audit as the managers' edits are), in one
transaction.

Each object is known by its name or key: renaming one in the file is a removal and an
addition. Objects the file does not mention are left alone unless `prune` is asked for, and
integrations are never deleted (their alerts are history). A file that does not fit the schema
(`config_schema`, committed as docs/hikeshi.schema.json) or names what does not exist is
refused whole, with the path of each problem in the file, and nothing is written.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError

from checklists import services as checklists
from checklists.models import ChecklistTemplate, CommandLanguage, KnownProblem, TemplateItem
from checklists.models import Kind as ChecklistKind
from checklists.services import template_items
from config.base import record_delete, record_save
from config.documents import write_atomically
from escalation.models import EscalationPolicy, StopOn, Team
from escalation.services import policies
from heartbeats.models import Heartbeat
from heartbeats.services import heartbeat_create, heartbeat_delete, heartbeat_update
from incidents.models import Category, Severity
from integrations.models import DEFAULT_SEVERITY_MAPPING, LABEL_NAME, Integration
from integrations.services import integration_create, integration_update
from oncall import services as oncall
from oncall.models import Layer, Schedule

VERSION = 1
SCHEMA_ID = "https://hikeshi.example/hikeshi.schema.json"
HEADER = (
    "# Hikeshi configuration (manage.py config export). Apply with: manage.py config apply FILE\n"
    "# Schema: docs/hikeshi.schema.json. Objects are known by their name or key.\n"
)

# --- durations: "1h30m", "15m", "0s" -----------------------------------------------------

DURATION = re.compile(r"^(?=\d)(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
DURATION_PATTERN = DURATION.pattern
UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def duration_text(value: timedelta) -> str:
    """A duration as people write it: days, hours, minutes and seconds, largest first."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in UNITS:
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def duration_parse(text: str) -> timedelta:
    match = DURATION.match(text)
    if not match:
        raise ValueError(text)
    return timedelta(
        seconds=sum(int(n or 0) * size for n, (_u, size) in zip(match.groups(), UNITS, strict=True))
    )


# --- the schema: one place for what the file may say and what a missing key means --------


def _string(default: str | None = None, **more: Any) -> dict:
    return {"type": "string", **({} if default is None else {"default": str(default)}), **more}


def _enum(values: Iterable[str], default: str | None = None) -> dict:
    return _string(default, enum=sorted(values))


def _bool(default: bool) -> dict:
    return {"type": "boolean", "default": default}


def _list(items: dict, default: list | None = None, **more: Any) -> dict:
    return {"type": "array", "items": items, **({} if default is None else {"default": []}), **more}


def _object(properties: dict, required: Iterable[str], description: str = "") -> dict:
    return {
        "type": "object",
        **({"description": description} if description else {}),
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


SLUG = {"type": "string", "pattern": r"^[-a-zA-Z0-9_]+$", "minLength": 1}
DURATION_SCHEMA = {
    "type": "string",
    "pattern": DURATION_PATTERN,
    "description": "A duration: 1d, 2h, 15m, 30s or a combination such as 1h30m; 0s for none.",
}
SEVERITIES = _list(_enum(Severity.values), [], uniqueItems=True)
CATEGORIES = _list(_enum(Category.values), [], uniqueItems=True)

TEAM = _object(
    {
        "name": {**SLUG, "maxLength": 50},
        "name_ja": _string(maxLength=100),
        "name_en": _string(maxLength=100),
        "email": _string(""),
        "language": _enum(["ja", "en"], "ja"),
        "members": _list({"type": "string"}, [], uniqueItems=True, description="Usernames."),
    },
    ["name", "name_ja", "name_en"],
    "A team; its chat webhook is a secret, set in the admin, never in this file.",
)
LEVEL = _object(
    {
        "number": {"type": "integer", "minimum": 1, "maximum": 4},
        "name": _string(maxLength=100),
        "delay": DURATION_SCHEMA,
        "min_severity": _enum([*Severity.values, ""], ""),
        "emergency_contact": _bool(False),
        "teams": _list({"type": "string"}, [], uniqueItems=True, description="Team names."),
        "users": _list({"type": "string"}, [], uniqueItems=True, description="Usernames."),
        "emails": _list({"type": "string"}, []),
        "schedules": _list(
            {"type": "string"}, [], uniqueItems=True, description="On-call schedules' names."
        ),
    },
    ["number", "name", "delay"],
)
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"
TIME_SCHEMA = {
    "type": "string",
    "pattern": TIME_PATTERN,
    "description": "A wall-clock time in the schedule's zone, quoted: '09:00', '18:00'.",
}
LAYER = _object(
    {
        "name": _string(maxLength=100, minLength=1),
        "priority": {"type": "integer", "minimum": 0, "maximum": 32767, "default": 1},
        "shift_length": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1},
        "shift_unit": _enum(Layer.Unit.values, Layer.Unit.WEEKS),
        "start_date": {
            "type": "string",
            "pattern": r"^\d{4}-\d{2}-\d{2}$",
            "description": "The first shift begins then: '2026-03-02'.",
        },
        "handoff_time": TIME_SCHEMA,
        "restrict_weekdays": _list(
            {"type": "integer", "minimum": 0, "maximum": 6},
            [],
            uniqueItems=True,
            description="0 = Monday … 6 = Sunday; empty: every day.",
        ),
        "restrict_from": {"oneOf": [TIME_SCHEMA, {"type": "null"}], "default": None},
        "restrict_until": {"oneOf": [TIME_SCHEMA, {"type": "null"}], "default": None},
        "members": _list({"type": "string"}, [], description="Usernames, in rotation order."),
    },
    ["name", "start_date", "handoff_time"],
    "A rotation; where layers overlap, the highest priority with someone wins.",
)
SCHEDULE = _object(
    {
        "name": _string(maxLength=100, minLength=1),
        "description": _string(""),
        "time_zone": _string("Asia/Tokyo", maxLength=64),
        "layers": _list(LAYER, [], description="Sorted by name; a layer is known by its name."),
    },
    ["name"],
    "An on-call schedule; its overrides and swaps are operational data, kept in the "
    "database and never in this file (an apply leaves them as they are).",
)
POLICY = _object(
    {
        "name": _string(maxLength=100, minLength=1),
        "description": _string(""),
        "is_default": _bool(False),
        "stop_on": _enum(StopOn.values, StopOn.RESOLVED),
        "severities": SEVERITIES,
        "categories": CATEGORIES,
        "levels": _list(LEVEL, []),
    },
    ["name"],
)
ITEM = _object(
    {
        "text_ja": _string(maxLength=300, minLength=1),
        "text_en": _string("", maxLength=300),
        "required": _bool(True),
        "command": _string(""),
        "command_language": _enum([*CommandLanguage.values, ""], ""),
        "help_ja": _string(""),
        "help_en": _string(""),
    },
    ["text_ja"],
)
TEMPLATE = _object(
    {
        "key": {**SLUG, "maxLength": 64},
        "name_ja": _string(maxLength=200, minLength=1),
        "name_en": _string("", maxLength=200),
        "kind": _enum(ChecklistKind.values),
        "source": _string("", maxLength=200),
        "severities": SEVERITIES,
        "categories": CATEGORIES,
        "is_active": _bool(True),
        "items": _list(ITEM, [], description="In order; an item is known by its place."),
    },
    ["key", "name_ja", "kind"],
    "A checklist template; its beat schedule (recurring kinds) is load_runbook_defaults'.",
)
KNOWN_PROBLEM = _object(
    {
        "key": {**SLUG, "maxLength": 64},
        "title_ja": _string(maxLength=200, minLength=1),
        "title_en": _string("", maxLength=200),
        "symptom_ja": _string(minLength=1),
        "symptom_en": _string(""),
        "causes_ja": _string(""),
        "causes_en": _string(""),
        "resolution_ja": _string(""),
        "resolution_en": _string(""),
        "keywords": _string(""),
    },
    ["key", "title_ja", "symptom_ja"],
)
HEARTBEAT = _object(
    {
        "name": {**SLUG, "maxLength": 64},
        "description": _string("", maxLength=300),
        "schedule": _enum(Heartbeat.Schedule.values, Heartbeat.Schedule.CRON),
        "interval": {"oneOf": [DURATION_SCHEMA, {"type": "null"}], "default": None},
        "cron": _string("", maxLength=100, description="Five fields, in Japan time."),
        "grace": {**DURATION_SCHEMA, "default": "30m"},
        "severity": _enum(Severity.values, Severity.P2),
        "policy": _string("", maxLength=100, description="An escalation policy's name."),
        "enabled": _bool(True),
        "checklist_item": {
            "oneOf": [
                _object(
                    {"template": SLUG, "item": {"type": "integer", "minimum": 1}},
                    ["template", "item"],
                    "The template's key and the item's place in it (from 1).",
                ),
                {"type": "null"},
            ],
            "default": None,
        },
    },
    ["name"],
    "A scheduled job checking in; its ping key is a secret and stays in the database.",
)
INTEGRATION = _object(
    {
        "name": _string(maxLength=100, minLength=1),
        "kind": _enum(Integration.Kind.values),
        "default_severity": _enum(Severity.values, Severity.P2),
        "severity_mapping": {
            "type": "object",
            "additionalProperties": _enum(Severity.values),
            # Labels are matched lower-cased, and stored so: an upper-case key would never match.
            "propertyNames": {"pattern": "^[^A-Z]*$"},
            "default": dict(sorted(DEFAULT_SEVERITY_MAPPING.items())),
        },
        "grouping": _enum(Integration.Grouping.values, Integration.Grouping.GROUP_KEY),
        "group_by": _list(
            {"type": "string", "pattern": LABEL_NAME.pattern}, [], uniqueItems=True, maxItems=10
        ),
        "group_window": {**DURATION_SCHEMA, "default": "15m"},
        "auto_resolve": _bool(True),
        "enabled": _bool(True),
        "policy": _string("", maxLength=100),
        "hmac_secret_env": _string("", maxLength=100),
    },
    ["name", "kind"],
    "A monitoring integration; its secret is never exported (a new one's is printed once).",
)


@dataclass(frozen=True)
class Section:
    """One kind of object in the file: its key, the field that names one, its schema."""

    key: str
    identity: str
    schema: dict


SECTIONS = [
    Section("teams", "name", TEAM),
    # Before the policies whose levels page whoever is on call on them.
    Section("schedules", "name", SCHEDULE),
    Section("escalation_policies", "name", POLICY),
    Section("checklist_templates", "key", TEMPLATE),
    Section("known_problems", "key", KNOWN_PROBLEM),
    Section("heartbeats", "name", HEARTBEAT),
    Section("integrations", "name", INTEGRATION),
]
BY_KEY = {section.key: section for section in SECTIONS}


def config_schema() -> dict:
    """The file's JSON Schema (draft 2020-12), for editors and for `config_apply`."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Hikeshi configuration",
        "description": "What `manage.py config export` writes and `config apply` reads.",
        "type": "object",
        "properties": {
            "version": {"const": VERSION},
            **{section.key: {"type": "array", "items": section.schema} for section in SECTIONS},
        },
        "required": ["version"],
        "additionalProperties": False,
    }


def schema_text() -> str:
    return json.dumps(config_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


# --- reading the database as the file would say it ---------------------------------------


def _names(queryset, attribute: str) -> list[str]:
    return sorted(getattr(row, attribute) for row in queryset)


def _team(team: Team) -> dict:
    return {
        "name": team.name,
        "name_ja": team.name_ja,
        "name_en": team.name_en,
        "email": team.email,
        "language": team.language,
        "members": _names(team.members.all(), "username"),
    }


def _policy(policy: EscalationPolicy) -> dict:
    return {
        "name": policy.name,
        "description": policy.description,
        "is_default": policy.is_default,
        "stop_on": policy.stop_on,
        "severities": sorted(policy.severities or []),
        "categories": sorted(policy.categories or []),
        "levels": [
            {
                "number": level.number,
                "name": level.name,
                "delay": duration_text(level.delay),
                "min_severity": level.min_severity,
                "emergency_contact": level.emergency_contact,
                "teams": _names(level.teams.all(), "name"),
                "users": _names(level.users.all(), "username"),
                "emails": list(level.emails or []),
                "schedules": _names(level.schedules.all(), "name"),
            }
            for level in sorted(policy.levels.all(), key=lambda level: level.number)
        ],
    }


def time_text(value: time | None) -> str | None:
    """'09:00', or '09:00:30' where a time has seconds."""
    if value is None:
        return None
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def _layer(layer: Layer) -> dict:
    members = sorted(layer.members.all(), key=lambda m: (m.position, m.pk))
    return {
        "name": layer.name,
        "priority": layer.priority,
        "shift_length": layer.shift_length,
        "shift_unit": layer.shift_unit,
        "start_date": layer.start_date.isoformat(),
        "handoff_time": time_text(layer.handoff_time),
        "restrict_weekdays": sorted(layer.restrict_weekdays or []),
        "restrict_from": time_text(layer.restrict_from),
        "restrict_until": time_text(layer.restrict_until),
        "members": [member.user.get_username() for member in members],
    }


def _schedule(schedule: Schedule) -> dict:
    return {
        "name": schedule.name,
        "description": schedule.description,
        "time_zone": schedule.time_zone,
        "layers": [_layer(layer) for layer in sorted(schedule.layers.all(), key=lambda x: x.name)],
    }


ITEM_FIELDS = [name for name in ITEM["properties"]]


def _template(template: ChecklistTemplate) -> dict:
    return {
        "key": template.key,
        "name_ja": template.name_ja,
        "name_en": template.name_en,
        "kind": template.kind,
        "source": template.source,
        "severities": sorted(template.severities or []),
        "categories": sorted(template.categories or []),
        "is_active": template.is_active,
        "items": [
            {name: getattr(item, name) for name in ITEM_FIELDS} for item in template_items(template)
        ],
    }


def _known_problem(problem: KnownProblem) -> dict:
    return {name: getattr(problem, name) for name in KNOWN_PROBLEM["properties"]}


def _item_reference(item: TemplateItem | None) -> dict | None:
    if item is None:
        return None
    place = [row.pk for row in template_items(item.template)].index(item.pk) + 1
    return {"template": item.template.key, "item": place}


def _heartbeat(heartbeat: Heartbeat) -> dict:
    return {
        "name": heartbeat.name,
        "description": heartbeat.description,
        "schedule": heartbeat.schedule,
        "interval": None if heartbeat.interval is None else duration_text(heartbeat.interval),
        "cron": heartbeat.cron,
        "grace": duration_text(heartbeat.grace),
        "severity": heartbeat.severity,
        "policy": heartbeat.policy,
        "enabled": heartbeat.enabled,
        "checklist_item": _item_reference(heartbeat.checklist_item),
    }


def _integration(integration: Integration) -> dict:
    fields = {name: getattr(integration, name) for name in INTEGRATION["properties"]}
    fields["severity_mapping"] = dict(sorted(integration.severity_mapping.items()))
    fields["group_window"] = duration_text(integration.group_window)
    return fields


CURRENT: dict[str, tuple[Callable[[], Iterable], Callable[[Any], dict]]] = {
    "teams": (lambda: Team.objects.prefetch_related("members"), _team),
    "schedules": (lambda: Schedule.objects.prefetch_related("layers__members__user"), _schedule),
    "escalation_policies": (
        lambda: EscalationPolicy.objects.prefetch_related(
            "levels__teams", "levels__users", "levels__schedules"
        ),
        _policy,
    ),
    "checklist_templates": (
        lambda: ChecklistTemplate.objects.prefetch_related("items"),
        _template,
    ),
    "known_problems": (KnownProblem.objects.all, _known_problem),
    "heartbeats": (
        lambda: Heartbeat.objects.select_related("checklist_item__template"),
        _heartbeat,
    ),
    "integrations": (Integration.objects.all, _integration),
}


def config_current() -> dict[str, dict[str, dict]]:
    """{section: {name: object}}, each object as the file says it."""
    found = {}
    for section in SECTIONS:
        rows, describe = CURRENT[section.key]
        objects = (describe(row) for row in rows())
        found[section.key] = {obj[section.identity]: obj for obj in objects}
    return found


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Several lines (SQL, resolution steps) read best as a literal block.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def config_export() -> str:
    """The database's configuration as YAML: sections in a fixed order, objects sorted by
    name, every key written, so that the same database gives the same bytes."""
    current = config_current()
    document = {"version": VERSION}
    for section in SECTIONS:
        document[section.key] = [
            current[section.key][name] for name in sorted(current[section.key])
        ]
    body = yaml.dump(
        document, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000, indent=2
    )
    return HEADER + body


# --- reading a file ------------------------------------------------------------------------


class ConfigError(Exception):
    """The file cannot be applied: each problem with its path in the file."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(f"{path}: {message}" for path, message in self.problems))


def _path(parts: Iterable[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top)"


def _defaults(value: Any, schema: dict) -> Any:
    """The value with every missing key the schema gives a default for filled in."""
    if isinstance(value, dict) and "properties" in schema:
        filled = dict(value)
        for name, sub in schema["properties"].items():
            if name not in filled and "default" in sub:
                filled[name] = copy.deepcopy(sub["default"])
            if name in filled:
                filled[name] = _defaults(filled[name], sub)
        return filled
    if isinstance(value, dict):
        objects = [s for s in schema.get("oneOf", []) if "properties" in s]
        return _defaults(value, objects[0]) if objects else value
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_defaults(item, schema["items"]) for item in value]
    return value


def _canonical(section: str, obj: dict) -> dict:
    """Durations as the export writes them (90m is 1h30m), so that a file saying the same
    thing in other words is in sync rather than a change every time."""
    if section == "escalation_policies":
        for level in obj["levels"]:
            level["delay"] = duration_text(duration_parse(level["delay"]))
    elif section == "schedules":
        for layer in obj["layers"]:
            layer["start_date"] = _date(layer["start_date"]).isoformat()
            for name in ("handoff_time", "restrict_from", "restrict_until"):
                layer[name] = time_text(_time(layer[name]))
            layer["restrict_weekdays"] = sorted(layer["restrict_weekdays"])
        obj["layers"].sort(key=lambda layer: layer["name"])
    elif section == "heartbeats":
        obj["grace"] = duration_text(duration_parse(obj["grace"]))
        if obj["interval"] is not None:
            obj["interval"] = duration_text(duration_parse(obj["interval"]))
    elif section == "integrations":
        obj["group_window"] = duration_text(duration_parse(obj["group_window"]))
    return obj


def _date(text: str) -> date:
    return date.fromisoformat(text)


def _time(text: str | None) -> time | None:
    return None if text is None else time.fromisoformat(text)


def _plain(value: Any) -> Any:
    """YAML reads an unquoted 2026-03-02 as a date: the file means the text."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


@dataclass
class Desired:
    """A file read and checked: {section: {name: object}} and each object's place in the file."""

    objects: dict[str, dict[str, dict]]
    places: dict[tuple[str, str], int] = field(default_factory=dict)

    def path(self, section: str, name: str, *rest: str | int) -> str:
        return _path([section, self.places.get((section, name), 0), *rest])


def config_read(text: str) -> Desired:
    """Parse and check a file; ConfigError names every problem's path."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise ConfigError([(where, str(getattr(error, "problem", error)))]) from None
    data = _plain(data)
    validator = jsonschema.Draft202012Validator(config_schema())
    problems = [
        (_path(error.absolute_path), error.message)
        for error in validator.iter_errors(data if data is not None else {})
    ]
    if problems:
        raise ConfigError(problems)
    desired = Desired(objects={})
    for section in SECTIONS:
        desired.objects[section.key] = {}
        for place, obj in enumerate(data.get(section.key, [])):
            obj = _canonical(section.key, _defaults(obj, section.schema))
            name = obj[section.identity]
            if name in desired.objects[section.key]:
                problems.append(
                    (_path([section.key, place, section.identity]), f"{name!r} appears twice")
                )
            desired.objects[section.key][name] = obj
            desired.places[(section.key, name)] = place
    problems += _references(desired)
    if problems:
        raise ConfigError(problems)
    return desired


def _references(desired: Desired) -> list[tuple[str, str]]:
    """What the file names must exist: users in the database, teams and checklist items in
    the file or the database; one default policy at most."""
    problems = []
    objects = desired.objects
    users = set(get_user_model().objects.values_list("username", flat=True))
    teams = set(objects["teams"]) | set(Team.objects.values_list("name", flat=True))
    schedules = set(objects["schedules"]) | set(Schedule.objects.values_list("name", flat=True))

    def need(known: set, names: list[str], section: str, name: str, *where: str | int):
        for n, value in enumerate(names):
            if value not in known:
                problems.append((desired.path(section, name, *where, n), f"no such: {value!r}"))

    for name, team in objects["teams"].items():
        need(users, team["members"], "teams", name, "members")
    for name, schedule in objects["schedules"].items():
        for n, layer in enumerate(schedule["layers"]):
            need(users, layer["members"], "schedules", name, "layers", n, "members")
    defaults = [
        name for name, policy in objects["escalation_policies"].items() if policy["is_default"]
    ]
    for name in defaults[1:]:
        problems.append(
            (desired.path("escalation_policies", name, "is_default"), "one default policy at most")
        )
    for name, policy in objects["escalation_policies"].items():
        for n, level in enumerate(policy["levels"]):
            need(teams, level["teams"], "escalation_policies", name, "levels", n, "teams")
            need(users, level["users"], "escalation_policies", name, "levels", n, "users")
            where = ("escalation_policies", name, "levels", n, "schedules")
            need(schedules, level["schedules"], *where)
    templates = {key: len(t["items"]) for key, t in objects["checklist_templates"].items()}
    for template in ChecklistTemplate.objects.exclude(key__in=templates):
        templates[template.key] = template.items.count()
    for name, heartbeat in objects["heartbeats"].items():
        ref = heartbeat["checklist_item"]
        if ref and not 1 <= ref["item"] <= templates.get(ref["template"], 0):
            problems.append(
                (
                    desired.path("heartbeats", name, "checklist_item"),
                    f"no item {ref['item']} in checklist template {ref['template']!r}",
                )
            )
    return problems


# --- the plan: what applying would change --------------------------------------------------


@dataclass
class Change:
    """One object to create, change or delete; `fields` are (path, before, after)."""

    section: str
    name: str
    action: str  # "create", "update", "delete"
    fields: list[tuple[str, Any, Any]]

    def render(self) -> str:
        sign = {"create": "+", "update": "~", "delete": "-"}[self.action]
        lines = [f"{sign} {self.section} {self.name}"]
        for path, before, after in self.fields:
            if self.action == "create":
                lines.append(f"    {path}: {_show(after)}")
            elif self.action == "update":
                lines.append(f"    {path}: {_show(before)} → {_show(after)}")
        return "\n".join(lines)


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _field_diff(before: Any, after: Any, path: str) -> list[tuple[str, Any, Any]]:
    """Field by field; lists of objects (levels, items) element by element."""
    if isinstance(before, dict) and isinstance(after, dict) and "severity_mapping" not in path:
        found = []
        for key in after:
            found += _field_diff(before.get(key), after[key], f"{path}.{key}" if path else key)
        return found
    if (
        isinstance(before, list)
        and isinstance(after, list)
        and any(isinstance(v, dict) for v in before + after)
    ):
        found = []
        for n in range(max(len(before), len(after))):
            old = before[n] if n < len(before) else None
            new = after[n] if n < len(after) else None
            if old is None or new is None:
                if old != new:
                    found.append((f"{path}[{n}]", old, new))
            else:
                found += _field_diff(old, new, f"{path}[{n}]")
        return found
    return [] if before == after else [(path, before, after)]


@dataclass
class Plan:
    changes: list[Change]
    kept: list[str]  # objects the file does not mention that stay

    def render(self) -> str:
        lines = [change.render() for change in self.changes]
        lines += [f"= {name} (not in the file: left alone)" for name in self.kept]
        return "\n".join(lines) + ("\n" if lines else "")


def config_plan(desired: Desired, *, prune: bool = False) -> Plan:
    """What applying `desired` would do to the database as it is now."""
    current = config_current()
    changes, kept = [], []
    for section in SECTIONS:
        have, want = current[section.key], desired.objects[section.key]
        for name in sorted(want):
            if name not in have:
                changes.append(Change(section.key, name, "create", _field_diff({}, want[name], "")))
            elif diff := _field_diff(have[name], want[name], ""):
                changes.append(Change(section.key, name, "update", diff))
        for name in sorted(set(have) - set(want)):
            if prune and section.key != "integrations":
                changes.append(Change(section.key, name, "delete", []))
            else:
                kept.append(f"{section.key} {name}")
    return Plan(changes, kept)


# --- applying --------------------------------------------------------------------------------


def _users(names: list[str]) -> list[AbstractBaseUser]:
    found = {u.username: u for u in get_user_model().objects.filter(username__in=names)}
    return [found[name] for name in names]


def _changed(change: Change) -> set[str]:
    return {re.split(r"[.\[]", path)[0] for path, _b, _a in change.fields}


def _team_write(change: Change, want: dict, actor) -> None:
    fields = {k: v for k, v in want.items() if k != "members"}
    members = _users(want["members"])
    if change.action == "create":
        policies.team_create(actor=actor, members=members, **fields)
        return
    changed = _changed(change)
    policies.team_update(
        team=Team.objects.get(name=change.name),
        actor=actor,
        members=members if "members" in changed else None,
        **{k: v for k, v in fields.items() if k in changed},
    )


def _layer_specs(layers: list[dict]) -> list[oncall.LayerSpec]:
    return [
        oncall.LayerSpec(
            name=layer["name"],
            priority=layer["priority"],
            shift_length=layer["shift_length"],
            shift_unit=layer["shift_unit"],
            start_date=_date(layer["start_date"]),
            handoff_time=_time(layer["handoff_time"]),
            restrict_weekdays=list(layer["restrict_weekdays"]),
            restrict_from=_time(layer["restrict_from"]),
            restrict_until=_time(layer["restrict_until"]),
            members=_users(layer["members"]),
        )
        for layer in layers
    ]


def _schedule_write(change: Change, want: dict, actor) -> None:
    fields = {k: v for k, v in want.items() if k != "layers"}
    if change.action == "create":
        oncall.schedule_create(actor=actor, layers=_layer_specs(want["layers"]), **fields)
        return
    changed = _changed(change)
    oncall.schedule_update(
        schedule=Schedule.objects.get(name=change.name),
        actor=actor,
        layers=_layer_specs(want["layers"]) if "layers" in changed else None,
        **{k: v for k, v in fields.items() if k in changed},
    )


def _level_specs(levels: list[dict]) -> list[policies.LevelSpec]:
    teams = {team.name: team for team in Team.objects.all()}
    schedules = {schedule.name: schedule for schedule in Schedule.objects.all()}
    return [
        policies.LevelSpec(
            number=level["number"],
            name=level["name"],
            delay=duration_parse(level["delay"]),
            min_severity=level["min_severity"],
            emergency_contact=level["emergency_contact"],
            teams=[teams[name] for name in level["teams"]],
            emails=level["emails"],
            users=_users(level["users"]),
            schedules=[schedules[name] for name in level["schedules"]],
        )
        for level in levels
    ]


def _policy_write(change: Change, want: dict, actor) -> None:
    fields = {k: v for k, v in want.items() if k != "levels"}
    if change.action == "create":
        policies.policy_create(actor=actor, levels=_level_specs(want["levels"]), **fields)
        return
    changed = _changed(change)
    policies.policy_update(
        policy=EscalationPolicy.objects.get(name=change.name),
        actor=actor,
        levels=_level_specs(want["levels"]) if "levels" in changed else None,
        **{k: v for k, v in fields.items() if k in changed},
    )


def _template_write(change: Change, want: dict, actor) -> None:
    fields = {k: v for k, v in want.items() if k != "items"}
    if change.action == "create":
        checklists.template_create(actor=actor, items=want["items"], **fields)
        return
    changed = _changed(change)
    checklists.template_update(
        template=ChecklistTemplate.objects.get(key=change.name),
        actor=actor,
        items=want["items"] if "items" in changed else None,
        **{k: v for k, v in fields.items() if k in changed},
    )


def _known_problem_write(change: Change, want: dict, actor) -> None:
    if change.action == "create":
        record_save(KnownProblem(**want), actor=actor)
        return
    problem = KnownProblem.objects.get(key=change.name)
    changed = [k for k in want if k in _changed(change)]
    for name in changed:
        setattr(problem, name, want[name])
    record_save(problem, actor=actor, changed=changed)


def _heartbeat_fields(want: dict) -> dict:
    fields = dict(want)
    fields["interval"] = None if want["interval"] is None else duration_parse(want["interval"])
    fields["grace"] = duration_parse(want["grace"])
    ref = want["checklist_item"]
    fields["checklist_item"] = (
        template_items(ChecklistTemplate.objects.get(key=ref["template"]))[ref["item"] - 1]
        if ref
        else None
    )
    return fields


def _heartbeat_write(change: Change, want: dict, actor) -> None:
    fields = _heartbeat_fields(want)
    if change.action == "create":
        heartbeat_create(actor=actor, **fields)
        return
    changed = _changed(change)
    heartbeat_update(
        heartbeat=Heartbeat.objects.get(name=change.name),
        actor=actor,
        changes={k: v for k, v in fields.items() if k in changed},
    )


def _integration_write(change: Change, want: dict, actor) -> str | None:
    want = {**want, "group_window": duration_parse(want["group_window"])}
    if change.action == "create":
        options = {k: v for k, v in want.items() if k not in ("name", "kind")}
        integration, secret = integration_create(
            name=want["name"], kind=want["kind"], actor=actor, **options
        )
        return f"{integration.name}: {integration.endpoint_path()} secret (shown once): {secret}"
    changed = _changed(change)
    if "kind" in changed:
        raise ValidationError({"kind": ["An integration's kind cannot change: add a new one."]})
    integration_update(
        integration=Integration.objects.get(name=change.name),
        actor=actor,
        **{k: v for k, v in want.items() if k in changed},
    )
    return None


WRITERS: dict[str, Callable[[Change, dict, Any], str | None]] = {
    "teams": _team_write,
    "schedules": _schedule_write,
    "escalation_policies": _policy_write,
    "checklist_templates": _template_write,
    "known_problems": _known_problem_write,
    "heartbeats": _heartbeat_write,
    "integrations": _integration_write,
}


def _delete(change: Change, actor) -> None:
    if change.section == "teams":
        policies.team_delete(team=Team.objects.get(name=change.name), actor=actor)
    elif change.section == "schedules":
        oncall.schedule_delete(schedule=Schedule.objects.get(name=change.name), actor=actor)
    elif change.section == "escalation_policies":
        policies.policy_delete(policy=EscalationPolicy.objects.get(name=change.name), actor=actor)
    elif change.section == "checklist_templates":
        record_delete(ChecklistTemplate.objects.get(key=change.name), actor=actor)
    elif change.section == "known_problems":
        record_delete(KnownProblem.objects.get(key=change.name), actor=actor)
    elif change.section == "heartbeats":
        heartbeat_delete(heartbeat=Heartbeat.objects.get(name=change.name), actor=actor)


def _problems(error: ValidationError, where: str) -> list[tuple[str, str]]:
    if hasattr(error, "error_dict"):
        return [
            (f"{where}.{name}" if name != "__all__" else where, message)
            for name, messages in error.message_dict.items()
            for message in messages
        ]
    return [(where, message) for message in error.messages]


@transaction.atomic
def config_apply(
    *,
    desired: Desired,
    actor: AbstractBaseUser | AnonymousUser,
    prune: bool = False,
) -> tuple[Plan, list[str]]:
    """Make the database say what the file says, in one transaction: (the plan carried out,
    notes such as a new integration's secret). A refusal by a service is a ConfigError with
    the object's path, and the whole transaction is undone."""
    plan = config_plan(desired, prune=prune)
    notes = []
    # A policy giving up the default goes before the one taking it (one default at most).
    ordered = sorted(
        (c for c in plan.changes if c.action != "delete"),
        key=lambda c: (
            SECTIONS.index(BY_KEY[c.section]),
            bool(desired.objects[c.section][c.name].get("is_default")),
        ),
    )
    for change in ordered:
        want = desired.objects[change.section][change.name]
        try:
            with transaction.atomic():
                note = WRITERS[change.section](change, want, actor)
        except ValidationError as error:
            raise ConfigError(_problems(error, desired.path(change.section, change.name))) from None
        if note:
            notes.append(note)
    for change in reversed([c for c in plan.changes if c.action == "delete"]):
        try:
            with transaction.atomic():
                _delete(change, actor)
        except ProtectedError:
            raise ConfigError(
                [
                    (
                        f"{change.section} {change.name}",
                        "in use (its runs are history): keep it in the file, is_active: false",
                    )
                ]
            ) from None
    return plan, notes


# --- Markdown checklists for the team's repository ----------------------------------------

MARKDOWN_NOTE = (
    "<!-- Written by `manage.py config export --markdown`: change the template in Hikeshi "
    "(or hikeshi.yaml), not this file. -->"
)


def template_markdown(template: dict) -> str:
    """A checklist template as a Markdown checklist, Japanese first, English beside it."""
    title = template["name_ja"]
    if template["name_en"]:
        title += f" / {template['name_en']}"
    lines = [f"# {title}", "", MARKDOWN_NOTE, ""]
    lines.append(f"- 種類 / Kind: `{template['kind']}`")
    if template["source"]:
        lines.append(f"- ランブック / Runbook: {template['source']}")
    if template["severities"]:
        lines.append(f"- 対象レベル / Severities: {', '.join(template['severities'])}")
    if template["categories"]:
        lines.append(f"- 対象カテゴリ / Categories: {', '.join(template['categories'])}")
    if not template["is_active"]:
        lines.append("- 無効 / Inactive")
    required = sum(1 for item in template["items"] if item["required"])
    lines += [
        "",
        f"## チェック項目 / Items ({required} 必須 required, "
        f"{len(template['items']) - required} 任意 optional)",
        "",
    ]
    for item in template["items"]:
        text = item["text_ja"] + (f" / {item['text_en']}" if item["text_en"] else "")
        marker = "**必須 / required**" if item["required"] else "_任意 / optional_"
        lines.append(f"- [ ] {text} — {marker}")
        if item["command"]:
            fence = "```"
            while fence in item["command"]:
                fence += "`"
            lines += ["", f"  {fence}{item['command_language'] or 'bash'}"]
            lines += [f"  {line}".rstrip() for line in item["command"].splitlines()]
            lines += [f"  {fence}", ""]
        for help_text in filter(None, (item["help_ja"], item["help_en"])):
            lines += [f"  > {line}".rstrip() for line in help_text.splitlines()]
    return "\n".join(lines).rstrip() + "\n"


def config_export_markdown(directory: Path) -> list[Path]:
    """Every checklist template as `<key>.md` in `directory` (the runbook's 付録 links
    production-release.md, incident-response.md and security-audit.md)."""
    templates = config_current()["checklist_templates"]
    return [
        write_atomically(Path(directory) / f"{key}.md", template_markdown(templates[key]))
        for key in sorted(templates)
    ]
