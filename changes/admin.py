"""Changes in the admin: recorded, finished and linked through `changes.services`."""

from django import forms
from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from config.admin import adopt

from . import services
from .models import Change, Origin

START_FIELDS = [
    "kind",
    "title",
    "service",
    "version",
    "who",
    "summary",
    "started_at",
    "reverts",
    "links",
]
LINK_FIELDS = ["caused_incidents", "fixed_incidents"]


class ChangeForm(forms.ModelForm):
    def clean_links(self):
        return services.links_validate(self.cleaned_data.get("links") or [])

    def clean(self):
        data = super().clean()
        if data.get("result") and not data.get("finished_at") and not self.instance.is_finished:
            data["finished_at"] = timezone.now()  # finished now, unless the form says when
        return data

    class Meta:
        model = Change
        fields = [*START_FIELDS, *LINK_FIELDS, "finished_at", "result"]


@admin.register(Change)
class ChangeAdmin(admin.ModelAdmin):
    form = ChangeForm
    list_display = ["key_display", "kind", "title", "service", "version", "started_at", "result"]
    list_display_links = ["key_display", "title"]
    list_filter = ["kind", "result", "service", "started_at"]
    search_fields = ["title", "service", "version", "who"]
    date_hierarchy = "started_at"
    list_select_related = ["recorded_by"]
    autocomplete_fields = ["reverts"]
    raw_id_fields = LINK_FIELDS
    readonly_fields = ["recorded_by", "origin", "source", "checklist", "record_path"]

    def get_fieldsets(self, request, obj=None):
        main = [*START_FIELDS, *LINK_FIELDS]
        if obj is None:
            return [(None, {"fields": main})]
        return [
            (None, {"fields": main}),
            (_("Finish"), {"fields": ["finished_at", "result"]}),
            (_("Record"), {"fields": self.readonly_fields}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_finished:
            return [*self.readonly_fields, "kind", "started_at", "reverts", "finished_at", "result"]
        if obj is not None:
            return [*self.readonly_fields, "kind", "started_at", "reverts"]
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        """Changes are records: a mistaken one is corrected, never deleted."""
        return False

    @admin.display(description=_("key"), ordering="pk")
    def key_display(self, obj):
        return obj.key

    @admin.display(description=_("checklist run"))
    def checklist(self, obj):
        run = obj.checklist_run
        if run is None:
            return "—"
        done, total = run.progress()
        return format_html('<a href="{}">{}</a> ({} / {})', run.get_admin_url(), run, done, total)

    def save_model(self, request, obj, form, change):
        """Every write through the services, so the admin records what the API does."""
        data = form.cleaned_data
        if not change:
            values = {name: data[name] for name in START_FIELDS if data.get(name) is not None}
            values |= {name: list(data.get(name) or []) for name in LINK_FIELDS}
            saved = services.change_start(actor=request.user, origin=Origin.ADMIN, **values)
            adopt(obj, saved)
            return
        edited = [name for name in form.changed_data if name in services.UPDATE_FIELDS]
        if edited:
            services.change_update(
                change=obj, actor=request.user, **{name: data[name] for name in edited}
            )
        if not Change.objects.get(pk=obj.pk).is_finished and data.get("result"):
            services.change_finish(
                change=obj,
                actor=request.user,
                result=data["result"],
                finished_at=data.get("finished_at"),
            )

    def save_related(self, request, form, formsets, change):
        """The incident links through the service (added at the start for a new change)."""
        if not change:
            return
        for name, relation in zip(LINK_FIELDS, services.Relation.ALL, strict=True):
            if name not in form.changed_data:
                continue
            before = set(getattr(form.instance, name).all())
            after = set(form.cleaned_data[name])
            services.change_link_incidents(
                change=form.instance,
                actor=request.user,
                relation=relation,
                add=sorted(after - before, key=lambda i: i.pk),
                remove=sorted(before - after, key=lambda i: i.pk),
            )
