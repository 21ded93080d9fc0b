"""The secret calendar address: `/oncall/feeds/<token>.ics`. The token is the credential;
unknown and revoked tokens are the same 404, in the API's JSON error shape (a calendar app is
a machine client)."""

from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from config.api import error_body

from .feeds import feed_calendar
from .services import feed_find


@require_GET
def feed(request, token: str):
    found = feed_find(token)
    if found is None:
        return JsonResponse(error_body("not_found", _("Not found.")), status=404)
    response = HttpResponse(feed_calendar(found), content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=300"
    return response
