"""The links a notice carries for acting on it from wherever it arrives: signed, bound to the
notice, its incident and one action, single-use, valid ACT_LINK_MAX_AGE_SECONDS."""

from __future__ import annotations

from django.conf import settings

from accounts.tokens import token_make

from .models import Notice

ACT_PURPOSE = "act"


def act_url(notice: Notice, action: str = "acknowledge") -> str:
    token = token_make(
        ACT_PURPOSE, {"notice": notice.pk, "incident": notice.incident_id, "action": action}
    )
    return f"{settings.SITE_URL}/act/{token}"
