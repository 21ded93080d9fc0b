"""Importers for teams leaving another on-call tool: they read the JSON that tool's public API
returns (one file per endpoint, saved by the README's curl commands) and create the Hikeshi
equivalents through the services, reporting what could not be mapped."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model


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
