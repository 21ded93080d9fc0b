"""Grafana OnCall (public API v1) to Hikeshi: users, teams, schedules with their shifts and
overrides, escalation chains and integrations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.models import AbstractBaseUser
from django.utils.text import slugify

from escalation.models import EscalationPolicy, StopOn, Team
from escalation.services import policies
from integrations.models import Integration
from oncall import services as oncall
from oncall.models import Layer, Schedule
from ops.importers import DumpError, Importer, Report, person_find_or_create

UNITS = {"hourly": (Layer.Unit.HOURS, 3600), "daily": (Layer.Unit.DAYS, 86400)}
UNITS["weekly"] = (Layer.Unit.WEEKS, 7 * 86400)
BY_DAY = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
INTEGRATION_KINDS = {
    "alertmanager": Integration.Kind.ALERTMANAGER,
    "grafana": Integration.Kind.GRAFANA,
    "grafana_alerting": Integration.Kind.GRAFANA,
    "webhook": Integration.Kind.GENERIC,
    "formatted_webhook": Integration.Kind.GENERIC,
}
NOTIFY_STEPS = {
    "notify_persons": ("users", "persons_to_notify"),
    "notify_person_next_each_time": ("users", "persons_to_notify_next_each_time"),
    "notify_on_call_from_schedule": ("schedules", "notify_on_call_from_schedule"),
    "notify_team_members": ("teams", "notify_to_team_members"),
}


def _local(value: str, zone_name: str | None) -> datetime:
    """A shift's naive start, in its own zone (UTC when it names none)."""
    try:
        naive = datetime.fromisoformat(value)
        return naive.replace(tzinfo=ZoneInfo(zone_name) if zone_name else UTC)
    except (TypeError, ValueError, ZoneInfoNotFoundError):
        raise DumpError(f"not a shift start in a known zone: {value!r} {zone_name!r}") from None


class _Import(Importer):
    tool = "Grafana OnCall"
    envelope = "results"
    integration_kinds = INTEGRATION_KINDS

    def users(self) -> None:
        self.user_teams = {}
        for item in self.read("users.json"):
            self.people[item["id"]] = person_find_or_create(
                email=item["email"], full_name=item.get("name") or "", report=self.report
            )
            self.user_teams[item["id"]] = item.get("teams") or []

    def teams_(self) -> None:
        for item in self.read("teams.json"):
            name = slugify(item["name"])[:50] or f"team-{item['id'][:8].lower()}"
            team = Team.objects.filter(name=name).first()
            if team is not None:
                self.report.skipped.append(f"team {name}")
            else:
                members = [
                    self.people[uid]
                    for uid, teams in self.user_teams.items()
                    if item["id"] in teams
                ]
                team = policies.team_create(
                    actor=self.actor,
                    members=members,
                    name=name,
                    name_ja=item["name"],
                    name_en=item["name"],
                    email=item.get("email") or "",
                )
                self.report.created.append(f"team {name} ({len(members)} members)")
            self.teams[item["id"]] = team

    def layer(self, shift: dict, zone: ZoneInfo, where: str):
        kind, frequency = shift.get("type"), shift.get("frequency")
        if kind not in ("rolling_users", "recurrent_event") or frequency not in UNITS:
            self.report.unmapped.append(f"{where}: a {kind} shift repeating {frequency!r}")
            return None
        groups = shift.get("rolling_users") if kind == "rolling_users" else [shift.get("users")]
        groups = [group for group in groups or [] if group]
        if any(len(group) > 1 for group in groups):
            self.report.unmapped.append(
                f"{where}: several people on call at once (the first of each group is kept)"
            )
        members = [self.people.get(group[0]) for group in groups]
        if not members or None in members:
            self.report.unmapped.append(f"{where}: no known person (not imported)")
            return None
        turn = int(shift.get("start_rotation_from_user_index") or 0) % len(members)
        members = members[turn:] + members[:turn]
        unit, seconds = UNITS[frequency]
        interval = int(shift.get("interval") or 1)
        start = _local(shift.get("rotation_start") or shift["start"], shift.get("time_zone"))
        first = _local(shift["start"], shift.get("time_zone")).astimezone(zone)
        duration = int(shift.get("duration") or 0)
        restriction = {}
        days = [BY_DAY.index(day) for day in shift.get("by_day") or [] if day in BY_DAY]
        if days:
            restriction["restrict_weekdays"] = sorted(days)
        if duration < seconds * interval and not (days and duration >= 86400):
            if duration >= 86400 or unit == Layer.Unit.HOURS:
                self.report.unmapped.append(f"{where}: a shift of {duration} s every {frequency}")
                return None
            until = (first + timedelta(seconds=duration)).time()
            restriction |= {"restrict_from": first.time(), "restrict_until": until}
            if unit == Layer.Unit.WEEKS and not days:
                restriction["restrict_weekdays"] = [first.weekday()]
        local_start = start.astimezone(zone)
        return oncall.LayerSpec(
            name=(shift.get("name") or shift["id"])[:100],
            start_date=local_start.date(),
            handoff_time=local_start.time().replace(second=0, microsecond=0),
            priority=int(shift.get("level") or 0) + 1,
            shift_length=interval,
            shift_unit=unit,
            members=members,
            **restriction,
        )

    def schedules_(self) -> None:
        shifts = {item["id"]: item for item in self.read("on_call_shifts.json")}
        for item in self.read("schedules.json"):
            name = item["name"][:100]
            where = f"schedule {name}"
            existing = Schedule.objects.filter(name=name).first()
            if existing is not None:
                self.report.skipped.append(where)
                self.schedules[item["id"]] = existing
                continue
            if item.get("type") == "ical":
                self.report.unmapped.append(f"{where}: an iCal schedule (not imported)")
                continue
            zone_name = item.get("time_zone") or "UTC"
            if (zone := self.zone(zone_name, where)) is None:
                continue
            own = [shifts[sid] for sid in item.get("shifts") or [] if sid in shifts]
            own += [s for s in shifts.values() if s.get("schedule") == item["id"] and s not in own]
            layers, overrides = [], []
            for shift in own:
                label = f"{where} / {shift.get('name') or shift['id']}"
                if shift.get("type") in ("override", "single_event"):
                    overrides.append((shift, label))
                elif (spec := self.layer(shift, zone, label)) is not None:
                    layers.append(spec)
            schedule = oncall.schedule_create(
                actor=self.actor, layers=layers, name=name, time_zone=zone_name
            )
            self.report.created.append(f"{where} ({len(layers)} layers)")
            self.schedules[item["id"]] = schedule
            for shift, label in overrides:
                self.override(schedule, shift, label)

    def override(self, schedule: Schedule, shift: dict, where: str) -> None:
        people = shift.get("users") or [
            u for group in shift.get("rolling_users") or [] for u in group
        ]
        user = self.people.get(people[0]) if people else None
        if user is None:
            self.report.unmapped.append(f"{where}: no known person")
            return
        if len(people) > 1:
            self.report.unmapped.append(f"{where}: several people (the first is kept)")
        starts_at = _local(shift["start"], shift.get("time_zone"))
        oncall.override_create(
            schedule=schedule,
            user=user,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(seconds=int(shift["duration"])),
            reason=f"Grafana OnCall {shift.get('name') or ''}".strip()[:200],
            actor=self.actor,
        )
        self.report.created.append(f"override on {schedule.name} from {starts_at.isoformat()}")

    def escalations(self) -> None:
        steps = sorted(
            self.read("escalation_policies.json"),
            key=lambda step: step.get("position", 0),
        )
        for chain in self.read("escalation_chains.json"):
            name = chain["name"][:100]
            where = f"escalation chain {name}"
            if EscalationPolicy.objects.filter(name=name).exists():
                self.report.skipped.append(where)
                continue
            delay, levels = 0, {}
            for step in (s for s in steps if s.get("escalation_chain_id") == chain["id"]):
                kind = step.get("type")
                if kind == "wait":
                    delay += int(step.get("duration") or 0)
                    continue
                if kind not in NOTIFY_STEPS:
                    self.report.unmapped.append(f"{where}: step {kind!r}")
                    continue
                if kind == "notify_person_next_each_time":
                    self.report.unmapped.append(f"{where}: round robin (everyone is paged)")
                target, key = NOTIFY_STEPS[kind]
                ids = step.get(key) or []
                found = {"users": self.people, "schedules": self.schedules, "teams": self.teams}
                level = levels.setdefault(delay, {"teams": [], "users": [], "schedules": []})
                for ref in ids if isinstance(ids, list) else [ids]:
                    if ref in found[target]:
                        level[target].append(found[target][ref])
                    else:
                        self.report.unmapped.append(f"{where}: unknown {target[:-1]} {ref}")
            self.policy_create(name=name, where=where, levels=levels, stop_on=StopOn.ACKNOWLEDGED)


def grafana_oncall_import(dump: Path, *, actor: AbstractBaseUser, dry_run: bool = False) -> Report:
    return _Import(dump, actor=actor, dry_run=dry_run).run()
