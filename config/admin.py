"""What the apps' admin pages share."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import NoReverseMatch
from django.utils.html import format_html
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


class QuickChangeList(ChangeList):
    """Each row's link from one reverse() a page: two link columns of 50 rows reversed the
    URL a hundred times, and on a filtered or later page resolved it again a hundred times
    to carry the list's filters. A numeric key's link is the same for every row but the key,
    so it is worked out once, filters included (`url_for_result` gives it whole); a text key
    is quoted, Django's own way."""

    PK_MARK = "~pk~"

    def __init__(self, request, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.quick_links = False
        if not isinstance(self.lookup_opts.pk, models.AutoField):
            return
        mark = type("Mark", (), {self.pk_attname: self.PK_MARK})()
        try:
            url = super().url_for_result(mark)
        except NoReverseMatch:  # a change URL that takes only numbers: each row its own
            return
        url = add_preserved_filters(
            {"preserved_filters": self.preserved_filters, "opts": self.opts}, url
        )
        self.link_head, _mark, self.link_tail = url.partition(self.PK_MARK)
        self.quick_links = True
        # Read only by the rows' links: they carry the filters already.
        self.preserved_filters = ""

    def url_for_result(self, result):
        if not self.quick_links:
            return super().url_for_result(result)
        return f"{self.link_head}{getattr(result, self.pk_attname)}{self.link_tail}"


class QuickRows:
    """ModelAdmin mixin for long lists: the same row checkbox and links as Django's, without
    rendering a form widget through the template engine for each row (a quarter of a 50-row
    page's time)."""

    def action_checkbox(self, obj):
        """Django's `ModelAdmin.action_checkbox`, the same HTML (a test compares them)."""
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            format_html(_("Select this object for an action - {}"), str(obj)),
        )

    def get_changelist(self, request, **kwargs):
        return QuickChangeList


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
