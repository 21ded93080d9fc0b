"""Filters that put user text into Markdown without letting it change the structure."""

import re
from datetime import datetime, timedelta

from django import template
from django.utils.translation import gettext as _

from config.base import JST

register = template.Library()
# Characters with meaning anywhere in a line (CommonMark lets a backslash escape them)...
INLINE = re.compile(r"([\\`*_\[\]>|~])")
# ...and those that only mean something at the start of a line (headings, quotes, lists).
LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+[.)])")


@register.filter
def md(value) -> str:
    """Inline text: one line, escaped so it stays plain text wherever it is put."""
    text = INLINE.sub(r"\\\1", " ".join(str(value or "").split())).replace("<", "&lt;")
    return LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


@register.filter
def md_cell(value) -> str:
    """A table cell: escaped, and never empty (an empty cell reads as a broken table)."""
    return md(value) or "—"


@register.filter
def md_block(value) -> str:
    """Paragraphs of user text: kept as paragraphs, escaped line by line."""
    paragraphs = re.split(r"\n\s*\n", str(value or "").replace("\r\n", "\n").strip())
    escaped = ["  \n".join(md(line) for line in p.split("\n") if line.strip()) for p in paragraphs]
    return "\n\n".join(p for p in escaped if p) or "—"


@register.filter
def jst(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S JST")


@register.filter
def duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return _("%(h)dh %(m)02dm %(s)02ds") % {"h": hours, "m": minutes, "s": seconds}
    return _("%(m)dm %(s)02ds") % {"m": minutes, "s": seconds}
