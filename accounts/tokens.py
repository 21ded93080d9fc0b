"""Signed, expiring, one-time links: the e-mail's acknowledge link, chat's account link.

The token carries what it is for (signed, so it cannot be altered), expires by itself, and is
spent by recording its nonce under a unique constraint, so that two uses racing each other
spend it once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from .models import UsedToken


class TokenRefused(Exception):
    """Why a link cannot be used: `reason` is one of "tampered", "expired", "used"."""

    MESSAGES = {
        "tampered": _("This link is not valid: it was changed or is incomplete."),
        "expired": _("This link has expired."),
        "used": _("This link has already been used."),
    }

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(str(self.MESSAGES[reason]))


@dataclass(frozen=True)
class Token:
    purpose: str
    payload: dict[str, Any]
    nonce: str


def token_make(purpose: str, payload: dict[str, Any]) -> str:
    return signing.dumps({"p": payload, "n": secrets.token_urlsafe(16)}, salt=f"hikeshi.{purpose}")


def token_read(purpose: str, text: str, *, max_age: float) -> Token:
    """The token's contents, if it is intact, fresh and unused (it is not spent here)."""
    try:
        data = signing.loads(text, salt=f"hikeshi.{purpose}", max_age=max_age)
    except signing.SignatureExpired:
        raise TokenRefused("expired") from None
    except signing.BadSignature:
        raise TokenRefused("tampered") from None
    token = Token(purpose=purpose, payload=data["p"], nonce=data["n"])
    if UsedToken.objects.filter(nonce=token.nonce).exists():
        raise TokenRefused("used")
    return token


def token_spend(token: Token) -> None:
    """Mark the token used, inside the transaction that acts on it; a second use fails."""
    try:
        with transaction.atomic():
            UsedToken.objects.create(nonce=token.nonce, purpose=token.purpose)
    except IntegrityError:
        raise TokenRefused("used") from None
