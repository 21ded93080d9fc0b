"""What a request meets when the database goes away under it: a 503 that says to retry,
as JSON where machines ask and as a short page where people do; never a 500 with a trace.
And the session's idle expiry, renewed by requests."""

import time

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from .api import error_body

# Seconds a client is asked to wait: about a reconnect, or a database restart.
RETRY_AFTER = "5"
# Doors that machines use (API, monitoring webhooks, chat, metrics): they get JSON.
MACHINE_PATHS = ("/api/", "/v2/", "/chat/", "/metrics", "/ping/")


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        detail = _("The database is not answering; try again in a few seconds.")
        if request.path.startswith(MACHINE_PATHS) or "text/html" not in request.headers.get(
            "Accept", ""
        ):
            response = JsonResponse(error_body("database_unavailable", detail), status=503)
        else:
            response = render(request, "hikeshi/unavailable.html", {"detail": detail}, status=503)
        response["Retry-After"] = RETRY_AFTER
        return response


# A session's idle expiry moves on at most this often: saving the session on every request
# cost every page an UPDATE and a commit (an fsync, whose slow moments were the admin lists'
# slowest answers), to move an eight-hour expiry by a few seconds.
SESSION_RENEW_SECONDS = 60
RENEWED_AT = "_renewed_at"


class SessionRenewalMiddleware:
    """Renews a signed-in session's expiry (SESSION_COOKIE_AGE, the idle limit) when it was
    last renewed a minute ago or more; SessionMiddleware saves it, with the new expiry."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and session.session_key and not session.is_empty():
            now = int(time.time())
            if now - session.get(RENEWED_AT, 0) >= SESSION_RENEW_SECONDS:
                session[RENEWED_AT] = now
        return response
