"""Filters that put user text into Markdown without letting it change the structure."""

import re
from datetime import datetime, timedelta

from django import template
from django.utils.translation import gettext as _
from markdown_it import MarkdownIt

from config.base import JST

register = template.Library()
# Characters with meaning anywhere in a line (CommonMark lets a backslash escape them)...
INLINE = re.compile(r"([\\`*_\[\]>|~])")
# ...and those that only mean something at the start of a line (headings, quotes, lists).
LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+[.)])")
# CommonMark with GitHub's tables and strikethrough: what the report's readers render.
PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
# Blockquote and list markers before a heading's hashes ("> - # title").
CONTAINER = re.compile(r"^((?:[ \t]*(?:>|[-+*](?=[ \t])|\d{1,9}[.)](?=[ \t])))*[ \t]*)")
ATX = re.compile(CONTAINER.pattern + r"(#{1,6})(?=[ \t]|$)")
QUOTE_MARKERS = re.compile(r"^(?:[ \t]*>)*")


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


def _html_escaped(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _demote_headings(lines: list[str | None], tokens, section_level: int) -> None:
    """A responder's '# Cause' becomes a heading below the section it sits in."""
    for index, token in enumerate(tokens):
        if token.type != "heading_open" or token.map is None:
            continue
        level = min(int(token.tag[1]) + section_level, 6)
        first, end = token.map
        if token.markup.startswith("#"):
            lines[first] = ATX.sub(rf"\g<1>{'#' * level}", lines[first], count=1)
        else:  # setext (text underlined by === or ---): rewritten as one ATX line
            prefix = CONTAINER.match(lines[first]).group(1)
            title = " ".join(tokens[index + 1].content.split())
            lines[first] = f"{prefix}{'#' * level} {title}"
            for line in range(first + 1, end):
                lines[line] = None


def _neutralise_inline_html(lines: list[str | None], token) -> None:
    """Escape each raw HTML tag of a paragraph where it stands, stepping over code spans."""
    if not any(child.type == "html_inline" for child in token.children or ()):
        return
    indexes = [i for i in range(*token.map) if lines[i] is not None]
    text = "\n".join(lines[i] for i in indexes)
    cursor = 0
    for child in token.children:
        if child.type == "code_inline":
            fence = re.compile(rf"(?<!`){re.escape(child.markup)}(?!`)")
            opening = fence.search(text, cursor)
            closing = opening and fence.search(text, opening.end())
            cursor = closing.end() if closing else cursor
        elif child.type == "html_inline":
            at = text.find(child.content, cursor)
            if at < 0:
                continue
            escaped = _html_escaped(child.content)
            text = text[:at] + escaped + text[at + len(child.content) :]
            cursor = at + len(escaped)
    for i, line in zip(indexes, text.split("\n"), strict=True):
        lines[i] = line


def _keep_markdown(text: str, section_level: int) -> str | None:
    """The responder's Markdown with headings demoted and raw HTML shown as text.

    None when the result would still carry HTML or a heading at the section's level, so
    the caller falls back to escaping everything: the report's structure always wins.
    """
    tokens = PARSER.parse(text)
    lines: list[str | None] = list(text.split("\n"))
    _demote_headings(lines, tokens, section_level)
    closing = None
    for token in tokens:
        if token.type == "html_block":
            for i in range(*token.map):
                marks = QUOTE_MARKERS.match(lines[i]).group(0)
                lines[i] = marks + _html_escaped(lines[i][len(marks) :])
        elif token.type == "inline" and token.map is not None:
            _neutralise_inline_html(lines, token)
        elif token.type == "fence" and token.level == 0 and token.map[1] == len(lines):
            last = (lines[token.map[1] - 1] or "").strip()
            marker = token.markup[0]
            if token.map[1] - token.map[0] < 2 or not re.fullmatch(
                rf"{re.escape(marker)}{{{len(token.markup)},}}", last
            ):
                closing = token.markup  # unclosed, it would swallow the rest of the report
    kept = "\n".join(line for line in lines if line is not None)
    if closing:
        kept += "\n" + closing
    for token in PARSER.parse(kept):
        if token.type in ("html_block", "html_inline") or (
            token.type == "heading_open" and int(token.tag[1]) <= section_level
        ):
            return None
        if any(child.type == "html_inline" for child in token.children or ()):
            return None
    return kept


@register.filter
def md_section(value, section_level=2) -> str:
    """A free-text section written in Markdown (root cause, lessons): the responder's lists
    and code blocks kept, their headings below the section's, raw HTML shown as text."""
    text = str(value or "").replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if not text.strip():
        return "—"
    kept = _keep_markdown(text, int(section_level))
    return kept if kept is not None else md_block(text)


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
