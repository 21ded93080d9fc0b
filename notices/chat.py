"""What a post to a team's channel says, rendered when it is sent, by the chat adapters that
know each format (Slack blocks, Mattermost attachments, Teams Adaptive Cards). They are
listed here, in one place, by path: the outbox never imports an adapter."""

from __future__ import annotations

from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils import timezone, translation
from django.utils.module_loading import import_string

from config.base import JST

from .models import Notice


class Post(Protocol):
    def __call__(self, notice: Notice) -> dict:
        """The JSON body to post to the notice's channel, in the active language."""


POST_BY_KIND = {
    Notice.Kind.NOTICE: "chat.posts.escalation_post",
    Notice.Kind.UPDATE: "chat.posts.update_post",
    Notice.Kind.DIGEST: "chat.posts.digest_post",
    Notice.Kind.REPORT: "chat.posts.digest_post",
}


@cache
def _post(kind: str) -> Post:
    return import_string(POST_BY_KIND[kind])


def chat_body(notice: Notice) -> dict:
    with translation.override(notice.language or settings.LANGUAGE_CODE), timezone.override(JST):
        return _post(notice.kind)(notice)
