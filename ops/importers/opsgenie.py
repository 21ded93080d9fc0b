"""Opsgenie (REST API v2) to Hikeshi: users, teams, schedules with their rotations and
overrides, escalations and integrations."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser
from django.utils.text import slugify

from escalation.models import EscalationPolicy, StopOn, Team
from escalation.services import policies
from integrations.models import Integration
from oncall import services as oncall
from oncall.models import Layer, Schedule
from ops.importers import DumpError, Importer, Report, person_find_or_create

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
UNITS = {"hourly": Layer.Unit.HOURS, "daily": Layer.Unit.DAYS, "weekly": Layer.Unit.WEEKS}
DELAY_UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
INTEGRATION_KINDS = {
    "prometheus": Integration.Kind.ALERTMANAGER,
    "grafana": Integration.Kind.GRAFANA,
    "api": Integration.Kind.GENERIC,
    "webhook": Integration.Kind.GENERIC,
}


def _instant(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        raise DumpError(f"not an ISO 8601 instant: {value!r}") from None


class _Import(Importer):
    tool = "Opsgenie"
    integration_kinds = INTEGRATION_KINDS

    @staticmethod
    def named(found: dict, ref: dict):
        return found.get(ref.get("id")) or found.get(ref.get("name"))

    def person(self, ref: dict) -> AbstractBaseUser | None:
        key = ref.get("id") or ref.get("username")
        if key in self.people:
            return self.people[key]
        username = ref.get("username")
        if not username:
            return None
        user = person_find_or_create(email=username, full_name="", report=self.report)
        self.people[key] = user
        return user

    def users(self) -> None:
        for item in self.read("users.json"):
            user = person_find_or_create(
                email=item["username"], full_name=item.get("fullName", ""), report=self.report
            )
            self.people[item["id"]] = self.people[item["username"]] = user

    def teams_(self) -> None:
        for item in self.read("teams.json"):
            name = slugify(item["name"])[:50] or f"team-{item['id'][:8]}"
            members = [
                user
                for member in item.get("members", [])
                if (user := self.person(member.get("user", {}))) is not None
            ]
            team = Team.objects.filter(name=name).first()
            if team is not None:
                self.report.skipped.append(f"team {name}")
            else:
                team = policies.team_create(
                    actor=self.actor,
                    members=members,
                    name=name,
                    name_ja=item["name"],
                    name_en=item["name"],
                )
                self.report.created.append(f"team {name} ({len(members)} members)")
            self.teams[item["id"]] = self.teams[item["name"]] = team

    def restriction(self, rotation: dict, where: str) -> dict | None:
        """Hikeshi's weekdays and from–until for the rotation's restriction, or None."""
        found = rotation.get("timeRestriction") or {}
        kind = found.get("type")
        if not kind:
            return {}
        if kind == "time-of-day":
            spans = [{**found["restriction"], "startDay": None, "endDay": None}]
        elif kind == "weekday-and-time-of-day":
            spans = found.get("restrictions") or []
        else:
            self.report.unmapped.append(f"{where}: restriction type {kind!r}")
            return None
        times = {
            (s["startHour"], s.get("startMin", 0), s["endHour"], s.get("endMin", 0)) for s in spans
        }
        if len(times) != 1:
            self.report.unmapped.append(
                f"{where}: restrictions with different times on different days"
            )
            return None
        start_hour, start_min, end_hour, end_min = times.pop()
        start, end = time(start_hour, start_min), time(end_hour % 24, end_min)
        days = []
        for span in spans:
            if span["startDay"] is None:
                break
            first = WEEKDAYS.index(span["startDay"])
            last = WEEKDAYS.index(span["endDay"])
            same_day = first == last and start < end
            one_night = last == (first + 1) % 7 and end <= start
            if not (same_day or one_night):
                self.report.unmapped.append(
                    f"{where}: a restriction spanning several days ({span['startDay']}–"
                    f"{span['endDay']})"
                )
                return None
            days.append(first)
        if start == end == time(0):  # whole days
            return {"restrict_weekdays": sorted(days)}
        return {"restrict_weekdays": sorted(days), "restrict_from": start, "restrict_until": end}

    def layer(self, rotation: dict, zone: ZoneInfo, priority: int, where: str):
        unit = UNITS.get(rotation.get("type"))
        if unit is None:
            self.report.unmapped.append(f"{where}: rotation type {rotation.get('type')!r}")
            return None
        if rotation.get("endDate"):
            self.report.unmapped.append(f"{where}: its end date (imported without one)")
        restriction = self.restriction(rotation, where)
        members = []
        for participant in rotation.get("participants", []):
            user = self.person(participant) if participant.get("type") == "user" else None
            if user is None:
                self.report.unmapped.append(
                    f"{where}: participant of type {participant.get('type')!r}"
                )
            members.append(user)
        if restriction is None or None in members:
            self.report.unmapped.append(f"{where}: not imported")
            return None
        start = _instant(rotation["startDate"]).astimezone(zone)
        return oncall.LayerSpec(
            name=rotation["name"][:100],
            start_date=start.date(),
            handoff_time=start.time().replace(second=0, microsecond=0),
            priority=priority,
            shift_length=int(rotation.get("length", 1)),
            shift_unit=unit,
            members=members,
            **restriction,
        )

    def schedules_(self) -> None:
        for item in self.read("schedules.json"):
            name = item["name"][:100]
            where = f"schedule {name}"
            existing = Schedule.objects.filter(name=name).first()
            if existing is not None:
                self.report.skipped.append(where)
                self.schedules[item["id"]] = self.schedules[item["name"]] = existing
                continue
            zone_name = item.get("timezone") or "Asia/Tokyo"
            if (zone := self.zone(zone_name, where)) is None:
                continue
            rotations = sorted(item.get("rotations", []), key=lambda r: r.get("order", 0))
            if len(rotations) > 1:
                self.report.unmapped.append(
                    f"{where}: Opsgenie pages every rotation's person at once; here the first "
                    "rotation that has someone is on call (rotations became layers, the first "
                    "the highest)"
                )
            layers = [
                spec
                for n, rotation in enumerate(rotations)
                if (
                    spec := self.layer(
                        rotation,
                        zone,
                        len(rotations) - n,
                        f"{where} / {rotation.get('name', '?')}",
                    )
                )
                is not None
            ]
            schedule = oncall.schedule_create(
                actor=self.actor,
                layers=layers,
                name=name,
                description=item.get("description", ""),
                time_zone=zone_name,
            )
            self.report.created.append(f"{where} ({len(layers)} layers)")
            self.schedules[item["id"]] = self.schedules[item["name"]] = schedule
            self.overrides(item, schedule)

    def overrides(self, item: dict, schedule: Schedule) -> None:
        for found in (f"overrides/{item['id']}.json", f"overrides/{item['name']}.json"):
            for override in self.read(found, required=False):
                user = self.person(override.get("user", {}))
                where = f"override on {schedule.name} from {override.get('startDate')}"
                if user is None:
                    self.report.unmapped.append(f"{where}: not a person")
                    continue
                if override.get("rotations"):
                    self.report.unmapped.append(
                        f"{where}: limited to some rotations (imported over the whole schedule)"
                    )
                oncall.override_create(
                    schedule=schedule,
                    user=user,
                    starts_at=_instant(override["startDate"]),
                    ends_at=_instant(override["endDate"]),
                    reason=f"Opsgenie {override.get('alias', '')}".strip()[:200],
                    actor=self.actor,
                )
                self.report.created.append(where)

    def escalations(self) -> None:
        for item in self.read("escalations.json"):
            name = item["name"][:100]
            where = f"escalation {name}"
            if EscalationPolicy.objects.filter(name=name).exists():
                self.report.skipped.append(where)
                continue
            levels: dict[int, dict] = {}
            conditions = set()
            for rule in item.get("rules", []):
                delay = rule.get("delay", {})
                seconds = int(delay.get("timeAmount", 0)) * DELAY_UNITS.get(
                    delay.get("timeUnit", "minutes"), 60
                )
                level = levels.setdefault(seconds, {"teams": [], "users": [], "schedules": []})
                recipient = rule.get("recipient", {})
                kind = recipient.get("type")
                conditions.add(rule.get("condition", "if-not-acked"))
                if kind == "user" and (user := self.person(recipient)):
                    level["users"].append(user)
                elif kind == "team" and (team := self.named(self.teams, recipient)):
                    level["teams"].append(team)
                elif kind == "schedule" and (schedule := self.named(self.schedules, recipient)):
                    level["schedules"].append(schedule)
                else:
                    self.report.unmapped.append(f"{where}: recipient of type {kind!r}")
            if item.get("repeat", {}).get("waitInterval"):
                self.report.unmapped.append(f"{where}: repeating the escalation")
            stop_on = StopOn.RESOLVED if conditions == {"if-not-closed"} else StopOn.ACKNOWLEDGED
            self.policy_create(
                name=name,
                where=where,
                levels=levels,
                description=item.get("description", ""),
                stop_on=stop_on,
            )


def opsgenie_import(dump: Path, *, actor: AbstractBaseUser, dry_run: bool = False) -> Report:
    return _Import(dump, actor=actor, dry_run=dry_run).run()
