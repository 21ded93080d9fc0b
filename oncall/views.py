"""The secret calendar address: `/oncall/feeds/<token>.ics`. The token is the credential;
unknown and revoked tokens are the same 404."""

from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from .feeds import feed_calendar
from .services import feed_find


@require_GET
def feed(request, token: str):
    found = feed_find(token)
    if found is None:
        raise Http404
    response = HttpResponse(feed_calendar(found), content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=300"
    return response
