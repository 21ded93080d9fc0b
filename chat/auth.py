"""Who may talk to the chat endpoints, decided before anything in the request is read.

Slack signs each request (signature v0 over the raw body, with a timestamp); Mattermost sends
its command token in a header. Mattermost does not sign the button presses it forwards, so
each button Hikeshi posts carries a token Hikeshi signed, bound to the incident and action.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

from django.conf import settings
from django.core import signing

log = logging.getLogger("chat.auth")

SLACK_MAX_SKEW_SECONDS = 300
BUTTON_SALT = "hikeshi.chat.button"


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def refused(request, reason: str) -> str:
    """Log a refused request (who sent it, why) and return the reason."""
    log.warning(
        "chat request refused from %s to %s: %s", client_address(request), request.path, reason
    )
    return reason


def slack_refusal(request) -> str | None:
    """Why this request is not Slack's (None: it is): signature v0 over the raw body, made
    with one of SLACK_SIGNING_SECRETS, with a timestamp within 300 s of now either way."""
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if not timestamp or not signature:
        return refused(request, "missing signature headers")
    try:
        skew = abs(time.time() - int(timestamp))
    except ValueError:
        return refused(request, "malformed timestamp")
    if skew > SLACK_MAX_SKEW_SECONDS:
        return refused(request, f"timestamp {int(skew)} s from now")
    base = b"v0:" + timestamp.encode() + b":" + request.body
    given = signature.encode("utf-8", "replace")
    for secret in settings.SLACK_SIGNING_SECRETS:
        expected = b"v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest().encode()
        if hmac.compare_digest(expected, given):
            return _utf8_refusal(request)
    return refused(request, "bad signature")


def mattermost_refusal(request) -> str | None:
    """Why this slash command is not Mattermost's: its `Authorization: Token …` header must be
    one of MATTERMOST_TOKENS."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "token" or not given.strip():
        return refused(request, "missing command token")
    given_bytes = given.strip().encode("utf-8", "replace")
    if not any(hmac.compare_digest(t.encode(), given_bytes) for t in settings.MATTERMOST_TOKENS):
        return refused(request, "wrong command token")
    return _utf8_refusal(request)


def _utf8_refusal(request) -> str | None:
    try:
        request.body.decode("utf-8")
    except UnicodeDecodeError:
        return refused(request, "body is not UTF-8")
    return None


def button_token(*, key: str, action: str) -> str:
    """What a Mattermost button carries: the incident and the action, signed by Hikeshi."""
    return signing.dumps({"key": key, "action": action}, salt=BUTTON_SALT)


def button_read(token: str) -> dict | None:
    """The button's incident and action, if Hikeshi signed them and they have not expired."""
    try:
        return signing.loads(token, salt=BUTTON_SALT, max_age=settings.CHAT_BUTTON_MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
