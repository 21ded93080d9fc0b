"""The e-mail of a notice: multipart text + HTML in the recipient's language, with a Message-ID
that is the notice's own, the same on every resend.

What a notice says is rendered when it is sent (its incident as it is then), by the app that
writes that kind of notice. Those renderers are listed here, in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.defaultfilters import linebreaks
from django.utils import timezone, translation
from django.utils.module_loading import import_string

from config.base import JST

from .models import Notice


class Content(Protocol):
    def __call__(self, notice: Notice) -> tuple[str, str, str]:
        """(subject, text, html), rendered in the active language and time zone."""


CONTENT_BY_KIND = {
    Notice.Kind.NOTICE: "escalation.emails.notice_content",
    Notice.Kind.DIGEST: "escalation.emails.digest_content",
    Notice.Kind.REPORT: "escalation.emails.report_content",
    Notice.Kind.MESSAGE: "notices.emails.message_content",
    Notice.Kind.HANDOFF: "escalation.emails.handoff_content",
}


@cache
def _content(kind: str) -> Content:
    return import_string(CONTENT_BY_KIND[kind])


T = TypeVar("T")
_batch: ContextVar[dict[Any, Any] | None] = ContextVar("notice_batch", default=None)


@contextmanager
def rendering_batch() -> Iterator[None]:
    """While a claimed batch is rendered, what its notices have in common (the contacts, an
    incident's earlier levels) is looked up once for all of them, not once per notice."""
    token = _batch.set({})
    try:
        yield
    finally:
        _batch.reset(token)


def batch_shared(key: Any, compute: Callable[[], T]) -> T:
    """`compute()`, shared by the notices of the batch being rendered (outside one: computed)."""
    memo = _batch.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def message_content(notice: Notice) -> tuple[str, str, str]:
    """A plain message (an overdue checklist): its subject and text as they were queued."""
    text = notice.data["text"]
    return notice.data["subject"], text, str(linebreaks(text, autoescape=True))


def notice_message(notice: Notice) -> EmailMultiAlternatives:
    """The e-mail for a notice; its Message-ID is the notice's, the same on every resend."""
    with translation.override(notice.language or settings.LANGUAGE_CODE), timezone.override(JST):
        subject, text, html = _content(notice.kind)(notice)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notice.recipient],
        headers={
            "Message-ID": notice.message_id,
            "Content-Language": notice.language,
            "X-Hikeshi-Notice": str(notice.pk),
            "Auto-Submitted": "auto-generated",
        },
    )
    message.attach_alternative(html, "text/html")
    return message
