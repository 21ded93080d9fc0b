"""Importers for teams leaving another on-call tool: they read the JSON that tool's public API
returns (one file per endpoint, saved by the README's curl commands) and create the Hikeshi
equivalents through the services, reporting what could not be mapped."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth import get_user_model
from django.db import transaction

from escalation.services import policies
from integrations.models import Integration
from integrations.services import integration_create

MAX_LEVELS = 4


class DumpError(Exception):
    """A dump file is missing or is not the JSON the tool's API returns."""


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return (
            [f"created   {line}" for line in self.created]
            + [f"exists    {line}" for line in self.skipped]
            + [f"unmapped  {line}" for line in self.unmapped]
        )


def dump_read(
    folder: Path, name: str, *, required: bool = True, envelope: str = "data"
) -> list[dict]:
    """The items of one endpoint's answer (`{"data": [...]}` or `{"data": {...}}`; Grafana
    OnCall's envelope is `results`), or of a
    list of such answers: the pages of a list, or one answer per object."""
    path = folder / name
    if not path.is_file():
        if required:
            raise DumpError(f"{path}: missing")
        return []
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DumpError(f"{path}: not JSON ({error})") from None
    pages = loaded if isinstance(loaded, list) else [loaded]
    items = []
    for page in pages:
        data = page.get(envelope) if isinstance(page, dict) else None
        if isinstance(data, dict):  # one object's answer, e.g. a team with its members
            data = [data]
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise DumpError(f'{path}: expected {{"{envelope}": [...]}} as the API answers')
        items.extend(data)
    return items


def person_find_or_create(*, email: str, full_name: str, report: Report):
    """The Hikeshi person with this e-mail address (or username), or a new one with no
    password and no role: pageable at once, able to sign in only after a password reset."""
    User = get_user_model()
    email = email.strip()
    found = (
        User.objects.filter(email__iexact=email).first()
        or User.objects.filter(username__iexact=email).first()
    )
    if found is not None:
        return found
    first, _, last = full_name.strip().partition(" ")
    user = User.objects.create_user(
        username=email[:150],
        email=email,
        password=None,
        first_name=first[:150],
        last_name=last[:150],
    )
    report.created.append(f"person {email} (no password, no role)")
    return user


class Importer:
    """What every importer shares: the report, the dump's reading, and the writes whose shape
    is the same whatever the source. A subclass reads its tool's objects in `steps` order."""

    tool = ""
    envelope = "data"
    integration_kinds: dict[str, str] = {}
    steps: tuple[str, ...] = ("users", "teams_", "schedules_", "escalations", "integrations")

    def __init__(self, dump: Path, *, actor, dry_run: bool = False):
        self.dump, self.actor, self.dry_run = Path(dump), actor, dry_run
        self.report = Report()
        # What the import made or found so far, by the source's ids (and names).
        self.people: dict[str, object] = {}
        self.teams: dict[str, object] = {}
        self.schedules: dict[str, object] = {}

    def read(self, name: str, *, required: bool = True) -> list[dict]:
        return dump_read(self.dump, name, required=required, envelope=self.envelope)

    def zone(self, name: str, where: str) -> ZoneInfo | None:
        """The schedule's time zone, or None with the schedule reported (it is left out)."""
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self.report.unmapped.append(f"{where}: unknown time zone {name!r}")
            return None

    def run(self) -> Report:
        """All or nothing, in one transaction; a second run finds everything by name and
        creates nothing."""
        with transaction.atomic():
            try:
                for step in self.steps:
                    getattr(self, step)()
            except (KeyError, TypeError, AttributeError, IndexError) as error:
                shape = f"not in the shape {self.tool}'s API returns"
                raise DumpError(f"{self.dump}: {shape} ({error!r})") from None
            if self.dry_run:
                transaction.set_rollback(True)
        return self.report

    def policy_create(self, *, name: str, where: str, levels: dict[int, dict], **fields) -> None:
        """Levels by their delay in seconds, at most four, each with its targets."""
        delays = sorted(levels)
        if len(delays) > MAX_LEVELS:
            self.report.unmapped.append(f"{where}: what comes after the {MAX_LEVELS}th delay")
        specs = [
            policies.LevelSpec(
                number=number,
                name=f"{name} +{seconds // 60} min"[:100],
                delay=timedelta(seconds=seconds),
                **levels[seconds],
            )
            for number, seconds in enumerate(delays[:MAX_LEVELS], start=1)
        ]
        policies.policy_create(actor=self.actor, levels=specs, name=name, **fields)
        self.report.created.append(f"{where} ({len(specs)} levels)")

    def integrations(self) -> None:
        for item in self.read("integrations.json", required=False):
            name = item["name"][:100]
            where = f"integration {name}"
            kind = self.integration_kinds.get(str(item.get("type", "")).lower())
            if kind is None:
                self.report.unmapped.append(f"{where}: type {item.get('type')!r}")
            elif Integration.objects.filter(name=name).exists():
                self.report.skipped.append(where)
            else:
                integration, secret = integration_create(name=name, kind=kind, actor=self.actor)
                shown = "(made on a real import)" if self.dry_run else f"(shown once): {secret}"
                self.report.created.append(f"{where}: {integration.endpoint_path()} secret {shown}")
