"""Linking chat accounts to people: by a manager, or by the person through a one-time link
that proves they hold the chat account while logged in to Hikeshi."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from config.base import record_delete, record_save

from .models import ChatIdentity
from .tokens import Token, token_make, token_spend

LINK_PURPOSE = "chat-link"


def chat_identity_of(*, provider: str, workspace: str, external_id: str) -> ChatIdentity | None:
    return (
        ChatIdentity.objects.select_related("user", "user__profile")
        .filter(
            provider=provider, workspace=workspace, external_id=external_id, user__is_active=True
        )
        .first()
    )


@transaction.atomic
def chat_identity_link(
    *,
    user: AbstractBaseUser,
    provider: str,
    workspace: str,
    external_id: str,
    actor: AbstractBaseUser,
) -> ChatIdentity:
    """A manager links a chat account to a person (replacing whoever it acted as before)."""
    existing = ChatIdentity.objects.filter(
        provider=provider, workspace=workspace, external_id=external_id
    ).first()
    if existing is not None:
        existing.user = user
        return record_save(existing, actor=actor, changed=["user"])
    identity = ChatIdentity(
        user=user, provider=provider, workspace=workspace, external_id=external_id
    )
    return record_save(identity, actor=actor)


def chat_identity_unlink(*, identity: ChatIdentity, actor: AbstractBaseUser) -> None:
    record_delete(identity, actor=actor)


def chat_link_token(*, provider: str, workspace: str, external_id: str) -> str:
    """The one-time link `/incident link` answers with (CHAT_LINK_MAX_AGE_SECONDS)."""
    return token_make(LINK_PURPOSE, {"p": provider, "w": workspace, "u": external_id})


@transaction.atomic
def chat_identity_claim(*, token: Token, user: AbstractBaseUser) -> ChatIdentity:
    """The person holding the link, logged in, makes that chat account act as them. The
    token is the permission: it proves the chat account, the session proves the person."""
    token_spend(token)
    payload = token.payload
    identity, _created = ChatIdentity.objects.update_or_create(
        provider=payload["p"],
        workspace=payload["w"],
        external_id=payload["u"],
        defaults={"user": user},
    )
    return identity
