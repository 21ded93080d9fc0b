"""The e-mail of a notice: multipart text + HTML in the recipient's language, with a Message-ID
that is the notice's own, the same on every resend.

What a notice says is rendered when it is sent (its incident as it is then), by the app that
writes that kind of notice. Those renderers are listed here, in one place.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from email.generator import BytesGenerator
from email.message import Message
from email.policy import Policy
from functools import cache
from io import BytesIO
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


_FOLDS: dict[tuple, bytes] = {}
_FOLDS_KEPT = 4096  # a few dozen distinct headers recur; per-message ones are forgotten


def _folded(policy: Policy, name: str, value: str) -> bytes:
    # The generator clones its policy for every message: the key is what folding depends on.
    key = (type(policy), policy.linesep, policy.max_line_length, policy.cte_type, name, value)
    folded = _FOLDS.get(key)
    if folded is None:
        folded = policy.fold_binary(name, value)
        if len(_FOLDS) >= _FOLDS_KEPT:
            _FOLDS.clear()
        _FOLDS[key] = folded
    return folded


class _Generator(BytesGenerator):
    """The standard generator, remembering how it folded a header: most of a notice's headers
    (its parts' Content-Type, the From, MIME-Version…) are the same in every message, and
    folding them anew is most of the time it takes to turn a message into bytes."""

    def _write_headers(self, msg: Message) -> None:
        for name, value in msg.raw_items():
            if isinstance(value, str):
                self._fp.write(_folded(self.policy, name, value))
            else:
                self._fp.write(self.policy.fold_binary(name, value))
        self.write(self._NL)


def message_bytes(message: EmailMultiAlternatives) -> bytes:
    """The message as it goes on the wire: the bytes `message.message().as_bytes()` gives, in
    about half the time."""
    mime = message.message()
    if mime.is_multipart():
        # The generator would compile a regular expression per message to pick a boundary.
        boundary = f"=_hikeshi_{secrets.token_hex(12)}"
        if not any(boundary in str(part.get_payload()) for part in mime.get_payload()):
            mime.set_boundary(boundary)
    out = BytesIO()
    _Generator(out, mangle_from_=False).flatten(mime, linesep="\r\n")
    return out.getvalue()
