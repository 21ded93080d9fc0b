"""The admin login's answer to a user locked out after failed logins (django-axes)."""

from django.conf import settings
from django.shortcuts import render


def locked_out(request, original_response=None, credentials=None):
    """429 with a page in the reader's language saying how the lock ends."""
    cooloff = settings.AXES_COOLOFF_TIME
    context = {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "minutes": int(cooloff.total_seconds() // 60) if cooloff else 0,
    }
    return render(request, "accounts/locked_out.html", context, status=429)
