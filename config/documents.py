"""Writing the Markdown documents the app produces (postmortems, monthly reports)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from markdown_it import MarkdownIt

PARSER = MarkdownIt("commonmark")


def tidy_markdown(text: str) -> str:
    """Templates leave stray blank lines around tags; normalise so the bytes are stable.

    Blank lines inside a code block are its content (a responder's script), so they stay.
    """
    lines = text.splitlines()
    code = {
        number
        for token in PARSER.parse(text)
        if token.type in ("fence", "code_block") and token.map
        for number in range(*token.map)
    }
    out: list[str] = []
    for number, line in enumerate(line.rstrip() for line in lines):
        if line or number in code or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip() + "\n"


def write_atomically(path: Path, text: str) -> Path:
    """Readers see the old file or the new one, never half of either."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
