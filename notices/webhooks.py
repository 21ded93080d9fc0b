"""Posting to a chat webhook: only to an allowed host, with a timeout, never following a
redirect. A refusal says whether it counts against the notice (the receiver said no), is
the receiver's rate limit (retry after what it asked), or the receiver is unreachable."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class WebhookFailed(Exception):
    """`counted`: the receiver answered with a refusal; else it was unreachable or busy.
    `retry_after`: seconds the receiver asked us to wait (HTTP 429)."""

    def __init__(self, message: str, *, counted: bool, retry_after: float | None = None):
        super().__init__(message)
        self.counted, self.retry_after = counted, retry_after


def host_allowed(url: str) -> bool:
    """CHAT_ALLOWED_HOSTS: exact hosts, and `.example.com` for every host under it."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return False
    for allowed in settings.CHAT_ALLOWED_HOSTS:
        allowed = allowed.lower()
        if host == allowed or (allowed.startswith(".") and host.endswith(allowed)):
            return True
    return False


def validate_webhook_url(url: str) -> None:
    if url and not host_allowed(url):
        raise ValidationError(
            _("Hikeshi posts only to the hosts in CHAT_ALLOWED_HOSTS; %(host)s is not one.")
            % {"host": urlsplit(url).hostname or url}
        )


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return settings.NOTICE_RETRY_BASE_SECONDS


def webhook_post(url: str, body: dict) -> httpx.Response:
    """POST `body` as JSON to `url`; raises WebhookFailed unless the receiver took it."""
    if not host_allowed(url):
        raise WebhookFailed(f"host not allowed: {urlsplit(url).hostname}", counted=True)
    try:
        response = httpx.post(
            url, json=body, timeout=settings.CHAT_TIMEOUT_SECONDS, follow_redirects=False
        )
    except httpx.HTTPError as error:  # refused, reset, timed out: try again later
        raise WebhookFailed(f"{type(error).__name__}: {error}", counted=False) from error
    if response.status_code == 429:
        raise WebhookFailed(
            "429 Too Many Requests", counted=False, retry_after=_retry_after(response)
        )
    if not response.is_success:
        reason = f"{response.status_code} {response.reason_phrase}: {response.text[:300]}"
        raise WebhookFailed(reason, counted=True)
    return response
