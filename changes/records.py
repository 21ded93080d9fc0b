"""変更管理 → docs/changes/: the Markdown record of a finished change.

Like the postmortem (incidents/postmortems.py), it is a file a team commits, so the same
change must always give the same bytes: every time is shown in JST from stored values, every
list in a fixed order, and the file is replaced atomically (`config.documents`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.text import slugify

from config.base import JST
from config.documents import tidy_markdown, write_atomically

from .models import Change
from .selectors import change_with_run


def record_filename(change: Change) -> str:
    """YYYY-MM-DD-<kind>-CHG-<n>-<slug>.md, dated by the start in JST. The key keeps two
    releases of one day with one title apart; without ASCII in the title, the key alone."""
    day = change.started_at.astimezone(JST).strftime("%Y-%m-%d")
    kind = change.kind.replace("_", "-")
    slug = slugify(change.title)[:60].strip("-")
    return f"{day}-{kind}-{change.key}-{slug}.md" if slug else f"{day}-{kind}-{change.key}.md"


def record_dir() -> Path:
    return Path(settings.CHANGE_DIR)


def _fence(text: str) -> str:
    """A fence longer than any run of backticks in `text`, so pasted output cannot close it."""
    longest, run = 0, 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def _plain(value) -> str:
    """A detail as one line: text as it is, anything else as canonical JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def record_context(change: Change) -> dict[str, Any]:
    change = change_with_run(change)
    run = change.checklist_run
    items = []
    for item in run.items.all() if run else []:
        note = item.note.replace("\r\n", "\n").strip("\n")
        items.append({"item": item, "note": note, "fence": _fence(note)})
    end = change.finished_at
    return {
        "change": change,
        "run": run,
        "items": items,
        "duration": end - change.started_at if end else None,
        "caused": sorted(change.caused_incidents.all(), key=lambda i: i.pk),
        "fixed": sorted(change.fixed_incidents.all(), key=lambda i: i.pk),
        "reverted_by": sorted(change.reverted_by.all(), key=lambda c: c.pk),
        "details": sorted((str(k), _plain(v)) for k, v in (change.details or {}).items()),
    }


def record_render(*, change: Change, language: str | None = None) -> str:
    language = language or settings.POSTMORTEM_LANGUAGE
    with translation.override(language):
        text = render_to_string("changes/record.md", record_context(change))
    return tidy_markdown(text)


def record_write(*, change: Change, language: str | None = None) -> Path:
    """Write (or rewrite) the record of a finished change; readers never see half a file."""
    path = write_atomically(
        record_dir() / record_filename(change), record_render(change=change, language=language)
    )
    Change.objects.filter(pk=change.pk).update(record_path=str(path))
    return path
