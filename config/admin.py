"""What the apps' admin pages share."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from .base import record_delete, record_save


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


def adopt(obj, saved) -> None:
    """The admin's unsaved form object becomes the row a service created, so that the admin's
    own bookkeeping (its history entry, the redirect) points at that row."""
    obj.pk = saved.pk
    obj._state.adding = False
    obj._state.db = saved._state.db


class ThroughServices:
    """ModelAdmin mixin for plain configuration records: the form's object, each inline row
    and each deletion go through `record_save` / `record_delete` (permission, validation,
    audit) rather than the admin's own saves."""

    def save_model(self, request, obj, form, change):
        changed = form.changed_data if change else ()
        adopt(obj, record_save(obj, actor=request.user, changed=changed))

    def save_formset(self, request, form, formset, change):
        save_formset_through_services(formset, actor=request.user)

    def delete_model(self, request, obj):
        record_delete(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            record_delete(obj, actor=request.user)


def save_formset_through_services(formset, *, actor) -> None:
    """An inline's rows added, changed and deleted, each through `record_save` and
    `record_delete` (permission, validation, audit)."""
    formset.save(commit=False)  # sorts the rows into new, changed and deleted; saves nothing
    for row in formset.deleted_objects:
        record_delete(row, actor=actor)
    for row, changed in formset.changed_objects:
        record_save(row, actor=actor, changed=changed)
    for row in formset.new_objects:
        record_save(row, actor=actor)
