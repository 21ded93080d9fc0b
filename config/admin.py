"""What the apps' admin pages share."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class ViewOnly:
    """Records only services write (timeline, escalations): shown, never changed here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ViewOnly, admin.TabularInline):
    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields


def refusal_text(error: Exception) -> str:
    """A service's refusal (not allowed now, no permission, invalid) as one admin message."""
    text = "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)
    return text or _("Not allowed.")
