"""What the change record needs beyond the postmortem's Markdown filters."""

from django import template

register = template.Library()


@register.filter
def indent_block(value) -> str:
    """Pasted output, each line indented into the list item above it (inside its fence)."""
    return "\n".join(f"  {line}" if line.strip() else "" for line in str(value).split("\n"))
