"""`/incident <command>`: what each command does, as a thin caller of the services.

A command acts as the person its chat account is linked to, with that person's role: the
services check the permission, write the timeline and the audit log as they do for the admin
and the API. Answers are in the person's language; a refusal says why and how to write it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import ChatIdentity
from accounts.services import chat_identity_of, chat_link_token
from changes.selectors import incident_changes
from checklists.selectors import incident_runs, item_statuses, known_problems_for
from checklists.services import run_item_tick
from config.base import JST, ActionNotAllowed, duration_text, require_permission
from escalation.models import EscalationPolicy
from escalation.selectors import policy_simulate
from escalation.services.timers import incident_escalate
from incidents import services
from incidents.models import ACTIVE_STATES, Action, Incident, Severity
from maintenance.selectors import window_for_service, windows_listed
from vendors.selectors import incident_vendor_contacts

from .messages import Message

User = get_user_model()

KEY = re.compile(r"^(?:INC-)?(\d{1,18})$", re.IGNORECASE)
SLACK_MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$")


@dataclass(frozen=True)
class ChatUser:
    """Who typed the command: a chat account, and the person it is linked to (if any)."""

    provider: str
    workspace: str
    external_id: str
    user: AbstractBaseUser | None


class Refused(Exception):
    """An answer that refuses: bad input, unknown incident, a role or state that says no."""

    def __init__(self, *lines: str):
        super().__init__("\n".join(lines))
        self.lines = list(lines)


@dataclass(frozen=True)
class Command:
    name: str
    aliases: tuple[str, ...]
    arguments: str
    summary: str
    run: Callable[[ChatUser, list[str], str], Message]
    public: bool = False  # a change others should see: answered in the channel
    needs_link: bool = True

    @property
    def usage(self) -> str:
        return f"/incident {self.name} {self.arguments}".rstrip()


# --- reading arguments -----------------------------------------------------------------


def _incident(words: list[str], command: str) -> Incident:
    if not words:
        usage = COMMANDS[command].usage
        raise Refused(_("Name the incident (INC-42 or 42): %(usage)s") % {"usage": usage})
    match = KEY.match(words[0])
    incident = (
        Incident.objects.select_related("commander", "policy").filter(pk=match.group(1)).first()
        if match
        else None
    )
    if incident is None:
        raise Refused(_("No incident %(key)s. Name it as INC-42 or 42.") % {"key": words[0][:40]})
    return incident


def _rest(words: list[str], command: str, what: str) -> str:
    text = " ".join(words).strip()
    if not text:
        raise Refused(
            _("%(what)s is missing: %(usage)s") % {"what": what, "usage": COMMANDS[command].usage}
        )
    return text


def _severity(word: str, command: str) -> str:
    severity = word.upper()
    if severity not in Severity.values:
        raise Refused(
            _("Unknown severity %(s)s: use P0, P1, P2 or P3. %(usage)s")
            % {"s": word[:10], "usage": COMMANDS[command].usage}
        )
    return severity


def _when(moment) -> str:
    if moment is None:
        return "—"
    local = timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")
    delta = moment - timezone.now()
    if delta.total_seconds() >= 0:
        return _("%(at)s JST (in %(d)s)") % {"at": local, "d": duration_text(delta)}
    return _("%(at)s JST (%(d)s ago)") % {"at": local, "d": duration_text(-delta)}


def incident_headline(incident: Incident) -> str:
    return f"[{incident.severity}] {incident.key} {incident.title} — {incident.get_state_display()}"


def _acting(chat: ChatUser) -> AbstractBaseUser:
    assert chat.user is not None  # `run_command` answers unlinked users before this
    return chat.user


# --- the commands --------------------------------------------------------------------------


def declare(chat: ChatUser, words: list[str], name: str) -> Message:
    if len(words) < 2:
        raise Refused(_("Give a severity and a title: %(usage)s") % {"usage": COMMANDS[name].usage})
    severity = _severity(words[0], name)
    title = " ".join(words[1:])[:200]
    incident = services.incident_declare(actor=_acting(chat), title=title, severity=severity)
    who = _acting(chat).get_username()
    return Message(
        [_("%(who)s declared %(line)s") % {"who": who, "line": incident_headline(incident)}],
        incident=incident,
    )


def incidents_list(chat: ChatUser, words: list[str], name: str) -> Message:
    require_permission(_acting(chat), "incidents.view_incident")
    rank = Case(
        *(When(severity=s, then=Value(n)) for n, s in enumerate(Severity.values)),
        output_field=IntegerField(),
    )
    active = (
        Incident.objects.filter(state__in=ACTIVE_STATES)
        .annotate(rank=rank)
        .order_by("rank", "detected_at", "pk")[:20]
    )
    lines = [incident_headline(incident) for incident in active]
    lines = [_("Active incidents:"), *lines] if lines else [_("No active incident.")]
    return Message(lines + _maintenance_lines(_acting(chat)))


def window_line(window) -> str:
    return _("Under maintenance: %(scope)s until %(until)s — %(reason)s") % {
        "scope": window.scope_text(),
        "until": _when(window.ends_at),
        "reason": window.reason,
    }


def _maintenance_lines(user: AbstractBaseUser) -> list[str]:
    """The windows in force: their alerts open no incident until they end."""
    if not user.has_perm("maintenance.view_maintenancewindow"):
        return []
    now = timezone.now()
    return [window_line(w) for w in windows_listed() if w.in_force_at(now)]


def status(chat: ChatUser, words: list[str], name: str) -> Message:
    require_permission(_acting(chat), "incidents.view_incident")
    incident = _incident(words, name)
    runs = list(incident_runs(incident))
    done = sum(run.progress()[0] for run in runs)
    total = sum(run.progress()[1] for run in runs)
    lines = [
        incident_headline(incident),
        f"{incident.severity} — {incident.severity_meaning}",
        _("Escalation level: %(n)s · next: %(next)s")
        % {"n": incident.escalation_level or "—", "next": _when(incident.next_escalation_at)},
        _("Commander: %(who)s")
        % {"who": incident.commander.get_username() if incident.commander else "—"},
        _("Detected: %(at)s") % {"at": _when(incident.detected_at)},
        _("Checklists: %(done)d / %(total)d done") % {"done": done, "total": total},
    ]
    lines += [
        _("Known problem: %(title)s") % {"title": problem.title}
        for problem in known_problems_for(incident, limit=3)
    ]
    if _acting(chat).has_perm("maintenance.view_maintenancewindow") and (
        window := window_for_service(incident.service)
    ):
        lines.append(window_line(window))
    lines += _what_changed(incident)
    lines += [_vendor_line(vendor) for vendor in incident_vendor_contacts(incident)]
    return Message(lines, incident=incident)


def _what_changed(incident: Incident) -> list[str]:
    """一次切り分け's first question: the service's changes in the 24 hours before detection,
    and the changes linked as the incident's cause or fix."""
    found = incident_changes(incident)
    labels = {
        "recent": _("Changed before detection: %(change)s"),
        "caused_by": _("Caused by: %(change)s"),
        "fixed_by": _("Fixed by: %(change)s"),
    }
    lines = []
    for group, label in labels.items():
        for change in found[group]:
            text = " ".join(
                part
                for part in (
                    change["key"],
                    change["kind_label"],
                    change["title"],
                    change["version"],
                    change["started_at"].astimezone(JST).strftime("%Y-%m-%d %H:%M JST"),
                    change["result_label"] or _("in progress"),
                )
                if part
            )
            lines.append(label % {"change": text})
    if not found["recent"] and incident.service:
        lines.append(
            _("No change to %(service)s in the 24 hours before detection.")
            % {"service": incident.service}
        )
    return lines


def _vendor_line(vendor: dict) -> str:
    """外部ベンダー連絡先: "Vendor: Vercel — サポートチケット経由 https://… (open: 12345)"."""
    line = _("Vendor: %(name)s — %(contact)s") % vendor
    if vendor["open_tickets"]:
        line += " " + _("(open tickets: %(refs)s)") % {"refs": ", ".join(vendor["open_tickets"])}
    return line


def transition(action: str) -> Callable[[ChatUser, list[str], str], Message]:
    def run(chat: ChatUser, words: list[str], name: str) -> Message:
        incident = _incident(words, name)
        rest = " ".join(words[1:]).strip()
        if action == Action.DISMISS:
            reason = _rest(words[1:], name, _("A reason"))
            incident = services.incident_transition(
                incident=incident, action=action, actor=_acting(chat), reason=reason
            )
        else:
            incident = services.incident_transition(
                incident=incident, action=action, actor=_acting(chat), note=rest
            )
        who = _acting(chat).get_username()
        line = _("%(who)s: %(action)s — %(headline)s") % {
            "who": who,
            "action": Action(action).label,
            "headline": incident_headline(incident),
        }
        return Message([line], incident=incident)

    return run


def escalate(chat: ChatUser, words: list[str], name: str) -> Message:
    incident = _incident(words, name)
    reason = _rest(words[1:], name, _("A reason"))
    fired = incident_escalate(incident=incident, actor=_acting(chat), reason=reason)
    incident.refresh_from_db()
    level = fired[-1]
    line = _("%(who)s escalated %(key)s to level %(n)d %(name)s: %(to)s") % {
        "who": _acting(chat).get_username(),
        "key": incident.key,
        "n": level.level,
        "name": level.name,
        "to": ", ".join(level.recipients) or "—",
    }
    return Message([line], incident=incident)


def severity(chat: ChatUser, words: list[str], name: str) -> Message:
    incident = _incident(words, name)
    if len(words) < 2:
        raise Refused(_("Give the new severity: %(usage)s") % {"usage": COMMANDS[name].usage})
    previous = incident.severity
    incident = services.incident_change_severity(
        incident=incident, severity=_severity(words[1], name), actor=_acting(chat)
    )
    line = _("%(who)s changed the severity of %(key)s: %(from)s → %(to)s") % {
        "who": _acting(chat).get_username(),
        "key": incident.key,
        "from": previous,
        "to": incident.severity,
    }
    return Message([line], incident=incident)


def _person(chat: ChatUser, word: str) -> AbstractBaseUser:
    if word.lower() in ("me", "自分", "私"):
        return _acting(chat)
    mention = SLACK_MENTION.match(word)
    if mention:
        identity = chat_identity_of(
            provider=chat.provider, workspace=chat.workspace, external_id=mention.group(1)
        )
        if identity is not None:
            return identity.user
    username = word.lstrip("@")
    by_chat = ChatIdentity.objects.filter(
        provider=chat.provider, workspace=chat.workspace, external_id=username
    ).first()
    person = by_chat.user if by_chat else User.objects.filter(username=username).first()
    if person is None or not person.is_active:
        raise Refused(_("Nobody called %(who)s here: name a linked user, or me.") % {"who": word})
    return person


def commander(chat: ChatUser, words: list[str], name: str) -> Message:
    incident = _incident(words, name)
    if len(words) < 2:
        raise Refused(_("Name the commander: %(usage)s") % {"usage": COMMANDS[name].usage})
    person = _person(chat, words[1])
    incident = services.incident_assign_commander(
        incident=incident, commander=person, actor=_acting(chat)
    )
    line = _("%(key)s is commanded by %(who)s.") % {
        "key": incident.key,
        "who": person.get_username(),
    }
    return Message([line], incident=incident)


def note(chat: ChatUser, words: list[str], name: str) -> Message:
    incident = _incident(words, name)
    text = _rest(words[1:], name, _("The note"))
    services.incident_add_note(incident=incident, actor=_acting(chat), message=text)
    return Message([_("Note added to %(key)s.") % {"key": incident.key}])


def _numbered_items(incident: Incident) -> list[tuple[int, object, object]]:
    """Every item of the incident's runs, numbered 1… as `checklist` shows them."""
    numbered, n = [], 0
    for run in incident_runs(incident):
        for item in run.items.all():
            n += 1
            numbered.append((n, run, item))
    return numbered


MARKS = {"open": "☐", "done": "☑", "skipped": "⤼"}


def checklist(chat: ChatUser, words: list[str], name: str) -> Message:
    require_permission(_acting(chat), "checklists.view_checklistrun")
    incident = _incident(words, name)
    lines, current, statuses = [], None, item_statuses()
    for n, run, item in _numbered_items(incident):
        if run is not current:
            lines.append(f"{run.name} ({run.progress()[0]}/{run.progress()[1]})")
            current = run
        optional = "" if item.required else _(" (optional)")
        lines.append(f"{MARKS[item.status]} {n}. {item.text}{optional}")
        if status := statuses.get(item.template_item_id):
            lines.append(f"    {status}")
    if not lines:
        return Message([_("%(key)s has no checklist.") % {"key": incident.key}])
    lines.append(_("Tick one: /incident check %(key)s <n>") % {"key": incident.key})
    return Message(lines)


def check(chat: ChatUser, words: list[str], name: str) -> Message:
    incident = _incident(words, name)
    if len(words) < 2 or not words[1].isdigit():
        raise Refused(_("Give the item's number: %(usage)s") % {"usage": COMMANDS[name].usage})
    wanted = int(words[1])
    found = [item for n, _run, item in _numbered_items(incident) if n == wanted]
    if not found:
        raise Refused(
            _("%(key)s has no item %(n)d: /incident checklist %(key)s lists them.")
            % {"key": incident.key, "n": wanted}
        )
    item = run_item_tick(item=found[0], actor=_acting(chat), note=" ".join(words[2:]))
    return Message([f"{MARKS[item.status]} {wanted}. {item.text}"])


def known(chat: ChatUser, words: list[str], name: str) -> Message:
    require_permission(_acting(chat), "checklists.view_knownproblem")
    incident = _incident(words, name)
    problems = known_problems_for(incident)
    if not problems:
        return Message([_("No known problem matches %(key)s.") % {"key": incident.key}])
    lines = []
    for problem in problems:
        lines += [f"■ {problem.title}", problem.resolution]
    return Message(lines)


def simulate(chat: ChatUser, words: list[str], name: str) -> Message:
    require_permission(_acting(chat), "escalation.view_escalationpolicy")
    if len(words) < 2:
        raise Refused(
            _("Name a policy and a severity: %(usage)s") % {"usage": COMMANDS[name].usage}
        )
    policy = EscalationPolicy.objects.filter(name=words[0]).first()
    if policy is None:
        names = ", ".join(EscalationPolicy.objects.values_list("name", flat=True))
        raise Refused(
            _("No policy %(name)s. Policies: %(names)s") % {"name": words[0], "names": names}
        )
    plan = policy_simulate(
        policy=policy,
        severity=_severity(words[1], name),
        category="system",
        detected_at=timezone.now(),
    )
    lines = [
        _("Policy %(name)s, %(s)s, if nobody resolves it:")
        % {"name": policy.name, "s": words[1].upper()}
    ]
    for step in plan:
        offset = timedelta(seconds=step["offset_seconds"])
        lines.append(
            f"+{duration_text(offset)}: L{step['level']} {step['name']} → "
            f"{', '.join(step['recipients']) or '—'}"
        )
    return Message(lines)


def link(chat: ChatUser, words: list[str], name: str) -> Message:
    token = chat_link_token(
        provider=chat.provider, workspace=chat.workspace, external_id=chat.external_id
    )
    minutes = settings.CHAT_LINK_MAX_AGE_SECONDS // 60
    return Message(
        [
            _("Open this link within %(n)d minutes, log in to Hikeshi, and confirm:")
            % {"n": minutes},
            f"{settings.SITE_URL}/chat/link/{token}",
        ]
    )


def help_text(chat: ChatUser, words: list[str], name: str) -> Message:
    lines = [_("Hikeshi commands (an incident is INC-42 or 42):")]
    for command in COMMANDS.values():
        aliases = "/".join(command.aliases)
        lines.append(f"{command.usage} ({aliases}) — {command.summary}")
    if chat.user is None:
        lines.append(_("Link your chat account first: /incident link"))
    return Message(lines)


def _commands() -> dict[str, Command]:
    # name, aliases (Japanese), arguments, summary, what it runs, answered in the channel.
    table = [
        (
            "declare",
            ("宣言",),
            "<P0–P3> <title>",
            gettext_lazy("Declare an incident"),
            declare,
            True,
        ),
        (
            "list",
            ("一覧",),
            "",
            gettext_lazy("Active incidents, most serious first"),
            incidents_list,
            False,
        ),
        ("status", ("状況",), "<key>", gettext_lazy("Where an incident stands"), status, False),
        (
            "ack",
            ("acknowledge", "受領"),
            "<key>",
            gettext_lazy("Acknowledge"),
            transition("acknowledge"),
            True,
        ),
        (
            "investigate",
            ("調査",),
            "<key>",
            gettext_lazy("Start investigating"),
            transition("investigate"),
            True,
        ),
        (
            "recover",
            ("復旧",),
            "<key>",
            gettext_lazy("Start recovery"),
            transition("recover"),
            True,
        ),
        ("resolve", ("解決",), "<key>", gettext_lazy("Resolve"), transition("resolve"), True),
        (
            "close",
            ("クローズ",),
            "<key>",
            gettext_lazy("Close (root cause, resolution, checklists)"),
            transition("close"),
            True,
        ),
        (
            "dismiss",
            ("却下",),
            "<key> <reason>",
            gettext_lazy("Dismiss as a false alarm"),
            transition("dismiss"),
            True,
        ),
        ("reopen", ("再開",), "<key>", gettext_lazy("Reopen"), transition("reopen"), True),
        (
            "escalate",
            ("エスカレート",),
            "<key> <reason>",
            gettext_lazy("Escalate to the next level now"),
            escalate,
            True,
        ),
        (
            "severity",
            ("重大度",),
            "<key> <P0–P3>",
            gettext_lazy("Change the severity"),
            severity,
            True,
        ),
        (
            "commander",
            ("指揮者",),
            "<key> <@user|me>",
            gettext_lazy("Set the commander"),
            commander,
            False,
        ),
        (
            "note",
            ("メモ",),
            "<key> <text>",
            gettext_lazy("Add a note to the timeline"),
            note,
            False,
        ),
        (
            "checklist",
            ("チェックリスト",),
            "<key>",
            gettext_lazy("The incident's checklists"),
            checklist,
            False,
        ),
        ("check", ("チェック",), "<key> <n>", gettext_lazy("Tick checklist item n"), check, False),
        ("known", ("既知",), "<key>", gettext_lazy("Known problems that match"), known, False),
        (
            "simulate",
            ("シミュレート",),
            "<policy> <P0–P3>",
            gettext_lazy("Who is told when"),
            simulate,
            False,
        ),
        (
            "link",
            ("連携",),
            "",
            gettext_lazy("Link your chat account to your Hikeshi user"),
            link,
            False,
        ),
        ("help", ("ヘルプ",), "", gettext_lazy("This list"), help_text, False),
    ]
    return {
        name: Command(name, aliases, arguments, summary, run, public, name not in ("link", "help"))
        for name, aliases, arguments, summary, run, public in table
    }


COMMANDS = _commands()
ALIASES = {
    alias: command for command in COMMANDS.values() for alias in (command.name, *command.aliases)
}


def refusal_lines(error: Exception) -> list[str]:
    if isinstance(error, Refused):
        return error.lines
    if isinstance(error, PermissionDenied):
        return [_("Your role may not do this.")]
    if isinstance(error, ActionNotAllowed):
        lines = [str(error)]
        if error.missing:
            lines = [_("Not yet: first")] + [f"- {item}" for item in error.missing]
        if error.allowed:
            lines.append(_("Allowed now: %(a)s") % {"a": ", ".join(error.allowed)})
        return lines
    if isinstance(error, ValidationError):
        return list(error.messages)
    raise error


def unlinked() -> Message:
    """What an unlinked chat account is told, whatever it asked (but `help` and `link`)."""
    return Message(
        [_("Your chat account is not linked to a Hikeshi user yet."), _("Link it: /incident link")]
    )


def run_command(chat: ChatUser, text: str) -> Message:
    """Parse and run one `/incident …` line; a refusal is an answer only the sender sees."""
    words = text.split()
    name = words[0].lower() if words else "help"
    command = ALIASES.get(name)
    if command is None:
        return Message(
            [
                _("Unknown command: %(name)s") % {"name": name[:40]},
                _("Try /incident help"),
            ]
        )
    if command.needs_link and chat.user is None:
        return unlinked()
    try:
        message = command.run(chat, words[1:], command.name)
    except (Refused, PermissionDenied, ActionNotAllowed, ValidationError) as error:
        return Message(refusal_lines(error))
    message.public = command.public
    return message
