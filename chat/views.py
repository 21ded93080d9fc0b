"""The chat endpoints: authenticate the request (before reading it), find who is acting, run
the command or button, answer in the chat's format. Bad input is an answer that says what is
wrong, never a 500."""

from __future__ import annotations

import logging
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import ChatProvider, notice_language
from accounts.services import LINK_PURPOSE, chat_identity_claim, chat_identity_of
from accounts.tokens import TokenRefused, token_read
from config.api import error_body, json_storable
from config.base import audit_actor_set, task_after_commit

from . import auth
from .buttons import press
from .commands import ChatUser, run_command
from .messages import Message, mattermost_body, slack_body

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024


def _not_configured():
    return JsonResponse(error_body("not_found", _("This chat is not configured.")), status=404)


def _unauthorized(reason: str):
    return JsonResponse(
        error_body(
            "authentication_failed",
            _("The request is not signed by the chat: %(r)s") % {"r": reason},
        ),
        status=401,
    )


def _too_large(request) -> JsonResponse | None:
    """Chats post a few kilobytes; a larger body is refused before it is read (even to check
    its signature)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared <= MAX_BODY_BYTES and len(request.body) <= MAX_BODY_BYTES:
        return None
    auth.refused(request, "body too large")
    return JsonResponse(error_body("payload_too_large", _("The request is too large.")), status=413)


def _chat_user(provider: str, workspace: str, external_id: str) -> ChatUser:
    identity = chat_identity_of(provider=provider, workspace=workspace, external_id=external_id)
    return ChatUser(provider, workspace, external_id, identity.user if identity else None)


@contextmanager
def _acting_as(chat: ChatUser):
    """The person's language for the answer; their name on the audit log's entries."""
    if chat.user is not None:
        audit_actor_set(chat.user)
    with translation.override(notice_language(chat.user) if chat.user else "ja"):
        yield


def _safely(render_answer, run):
    """Run a command; an error we did not foresee is logged and answered, not a 500."""
    try:
        return run()
    except Exception:
        log.exception("chat command failed")
        return render_answer(Message([_("Something went wrong; it has been logged.")]))


def _command(request, provider: str, render_answer) -> JsonResponse:
    form = request.POST
    workspace, external_id = form.get("team_id", ""), form.get("user_id", "")
    if not workspace or not external_id:
        message = Message([_("The request names no team_id and user_id.")])
        return JsonResponse(render_answer(message))
    chat = _chat_user(provider, workspace, external_id)
    with _acting_as(chat):
        return JsonResponse(
            _safely(render_answer, lambda: render_answer(run_command(chat, form.get("text", ""))))
        )


@csrf_exempt
@require_POST
def slack_commands(request):
    """A Slack slash command (`/incident …`), form-encoded and signed."""
    if not settings.SLACK_SIGNING_SECRETS:
        return _not_configured()
    if refusal := _too_large(request):
        return refusal
    if reason := auth.slack_refusal(request):
        return _unauthorized(reason)
    return _command(request, ChatProvider.SLACK, slack_body)


@csrf_exempt
@require_POST
def mattermost_commands(request):
    """A Mattermost slash command, form-encoded, with its token in the Authorization header."""
    if not settings.MATTERMOST_TOKENS:
        return _not_configured()
    if refusal := _too_large(request):
        return refusal
    if reason := auth.mattermost_refusal(request):
        return _unauthorized(reason)
    return _command(request, ChatProvider.MATTERMOST, mattermost_body)


@csrf_exempt
@require_POST
def slack_interactions(request):
    """A button Hikeshi posted was pressed: act, then replace the message through its
    `response_url` (after commit, on the chat queue)."""
    if not settings.SLACK_SIGNING_SECRETS:
        return _not_configured()
    if refusal := _too_large(request):
        return refusal
    if reason := auth.slack_refusal(request):
        return _unauthorized(reason)
    try:
        payload = json_storable(request.POST.get("payload", "").encode())
        user = payload["user"]
        workspace = (payload.get("team") or {}).get("id") or user.get("team_id", "")
        action = payload["actions"][0]
        response_url = payload.get("response_url", "")
        chat = _chat_user(ChatProvider.SLACK, workspace, user["id"])
        name, key = action["action_id"], action["value"]
        if not (isinstance(name, str) and isinstance(key, str)):
            raise TypeError("a button's action_id and value are strings")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return JsonResponse(slack_body(Message([_("The button's request is malformed.")])))
    with _acting_as(chat):
        message, replace = _safely(lambda m: (m, False), lambda: press(chat, name, key))
        body = slack_body(message, response_type=False) | {
            "replace_original": replace,
            "response_type": "in_channel" if replace else "ephemeral",
        }
    if response_url:
        task_after_commit("chat.respond", response_url, body)
    return HttpResponse(status=200)


@csrf_exempt
@require_POST
def mattermost_actions(request):
    """A Mattermost button: Mattermost signs nothing, so the context must carry a token
    Hikeshi signed for this incident and action, not yet expired."""
    if not settings.MATTERMOST_TOKENS:
        return _not_configured()
    if refusal := _too_large(request):
        return refusal
    try:
        payload = json_storable(request.body)
        button = auth.button_read(str(payload["context"]["token"]))
        workspace, external_id = str(payload["team_id"]), str(payload["user_id"])
    except (ValueError, KeyError, TypeError):
        button = None
    if button is None:
        return _unauthorized(auth.refused(request, "button token missing, altered or expired"))
    chat = _chat_user(ChatProvider.MATTERMOST, workspace, external_id)
    with _acting_as(chat):
        message, replace = _safely(
            lambda m: (m, False), lambda: press(chat, button["action"], button["key"])
        )
        if not replace:
            return JsonResponse({"ephemeral_text": message.text})
        body = mattermost_body(message, response_type=False)
    update = {"message": body["text"], "props": {"attachments": body.get("attachments", [])}}
    return JsonResponse({"update": update})


@login_required
@require_http_methods(["GET", "POST"])
def link(request, token: str):
    """`/incident link`'s one-time link: the person, logged in, confirms that the chat
    account acts as them. GET only shows what would be linked."""
    try:
        found = token_read(LINK_PURPOSE, token, max_age=settings.CHAT_LINK_MAX_AGE_SECONDS)
    except TokenRefused as refusal:
        return render(request, "chat/link.html", {"refusal": refusal}, status=400)
    account = {
        "provider": ChatProvider(found.payload["p"]).label,
        "workspace": found.payload["w"],
        "external_id": found.payload["u"],
    }
    if request.method == "GET":
        return render(request, "chat/link.html", {"account": account})
    try:
        chat_identity_claim(token=found, user=request.user)
    except TokenRefused as refusal:
        return render(request, "chat/link.html", {"refusal": refusal}, status=400)
    return render(request, "chat/link.html", {"account": account, "linked": True})
