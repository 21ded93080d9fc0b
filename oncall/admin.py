"""Schedules in the admin: managers configure schedules and layers (through `record_save`:
permission, validation, audit); responders see the next 14 days and add overrides (through
`oncall.services`). The table is `oncall.selectors.roster`, the code escalation pages by."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from config.admin import ThroughServices, adopt, refusal_text, save_formset_through_services
from config.base import JST, record_delete

from . import selectors, services
from .models import FeedToken, Layer, LayerMember, Override, Schedule

SOURCE_LABELS = {"layer": _("layer"), "override": _("override"), "gap": _("gap")}


def roster_table(rows) -> str:
    """Who, from, to, layer or override; gaps in red."""
    if not rows:
        return format_html("<em>{}</em>", _("Nothing in the next 14 days."))
    body = format_html_join(
        "",
        '<tr style="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
        (
            (
                "background:#fde2e2;color:#ba2121;font-weight:bold" if row["user"] is None else "",
                row["name"] or _("nobody on call"),
                f"{row['start'].astimezone(JST):%Y-%m-%d %a %H:%M}",
                f"{row['end'].astimezone(JST):%Y-%m-%d %a %H:%M}",
                row["layer"] or SOURCE_LABELS[row["source"]],
            )
            for row in rows
        ),
    )
    return format_html(
        "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>",
        _("who"),
        _("from (JST)"),
        _("to (JST)"),
        _("layer or override"),
        body,
    )


class LayerInline(admin.TabularInline):
    model = Layer
    extra = 0
    fields = [
        "name",
        "priority",
        "shift_length",
        "shift_unit",
        "start_date",
        "handoff_time",
        "restrict_weekdays",
        "restrict_from",
        "restrict_until",
        "members_link",
    ]
    readonly_fields = ["members_link"]

    @admin.display(description=_("members"))
    def members_link(self, obj):
        if not obj.pk:
            return "—"
        names = ", ".join(m.user.get_username() for m in obj.members.select_related("user"))
        url = reverse("admin:oncall_layer_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, names or _("add members"))


class OverrideInline(admin.TabularInline):
    model = Override
    extra = 1
    fields = ["user", "starts_at", "ends_at", "reason", "swap", "created_by"]
    readonly_fields = ["swap", "created_by"]
    ordering = ["-starts_at"]

    def has_add_permission(self, request, obj=None):
        return request.user.has_perm(services.OVERRIDE_PERMISSION)

    def has_change_permission(self, request, obj=None):
        return False  # an override is removed and added again, never edited


class FeedTokenInline(admin.TabularInline):
    model = FeedToken
    extra = 0
    fields = ["label", "person", "created_by", "created_at", "revoked_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Schedule)
class ScheduleAdmin(ThroughServices, admin.ModelAdmin):
    list_display = ["name", "time_zone", "now_on_call", "gaps_ahead", "updated_at"]
    search_fields = ["name", "description"]
    fields = ["name", "description", "time_zone", "roster"]
    readonly_fields = ["roster"]
    inlines = [LayerInline, OverrideInline, FeedTokenInline]
    actions = ["create_feed"]

    @staticmethod
    def _rows(obj) -> list[dict]:
        """The 14-day roster, worked out once per schedule shown."""
        if not hasattr(obj, "_roster"):
            obj._roster = selectors.roster(obj)
        return obj._roster

    @admin.display(description=_("next 14 days"))
    def roster(self, obj):
        return roster_table(self._rows(obj)) if obj.pk else "—"

    @admin.display(description=_("on call now"))
    def now_on_call(self, obj):
        rows = self._rows(obj)
        return rows[0]["name"] if rows and rows[0]["user"] else _("nobody")

    @admin.display(description=_("gaps in 14 days"))
    def gaps_ahead(self, obj):
        count = sum(1 for row in self._rows(obj) if row["user"] is None)
        if not count:
            return "—"
        return format_html('<strong style="color:#ba2121">{}</strong>', count)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Override:
            save_formset_through_services(formset, actor=request.user)
            return
        formset.save(commit=False)
        for row in formset.deleted_objects:
            record_delete(row, actor=request.user)
        for row in formset.new_objects:
            services.override_create(
                schedule=form.instance,
                user=row.user,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
                reason=row.reason,
                actor=request.user,
            )

    @admin.action(description=_("Create a calendar (iCal) link"), permissions=["view"])
    def create_feed(self, request, queryset):
        for schedule in queryset:
            try:
                _feed, token = services.feed_token_create(schedule=schedule, actor=request.user)
            except (PermissionDenied, ValidationError) as error:
                self.message_user(request, refusal_text(error), messages.ERROR)
                return
            url = settings.SITE_URL + reverse("oncall-feed", args=[token])
            self.message_user(
                request,
                _("Calendar link for %(schedule)s (shown once; keep it secret): %(url)s")
                % {"schedule": schedule.name, "url": url},
                messages.SUCCESS,
            )


class LayerMemberInline(admin.TabularInline):
    model = LayerMember
    extra = 1
    fields = ["position", "user"]
    ordering = ["position"]


@admin.register(Layer)
class LayerAdmin(ThroughServices, admin.ModelAdmin):
    list_display = ["__str__", "priority", "shift_length", "shift_unit", "handoff_time"]
    list_filter = ["schedule"]
    inlines = [LayerMemberInline]


@admin.register(FeedToken)
class FeedTokenAdmin(admin.ModelAdmin):
    """Calendar links: a schedule's from the schedules' list; a person's own (their shifts on
    every schedule) added here, the address shown once; revoked here (the address is a 404)."""

    list_display = ["schedule", "label", "person", "created_by", "created_at", "revoked_at"]
    list_filter = ["schedule"]
    fields = ["schedule", "label", "person", "created_by", "created_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ["created_by", "created_at", "revoked_at"]
        return self.fields

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        feed, token = services.feed_token_create(
            schedule=data.get("schedule"),
            person=data.get("person"),
            label=data.get("label", ""),
            actor=request.user,
        )
        adopt(obj, feed)
        url = settings.SITE_URL + reverse("oncall-feed", args=[token])
        self.message_user(
            request,
            _("Calendar link for %(feed)s (shown once; keep it secret): %(url)s")
            % {"feed": feed.schedule or feed.person, "url": url},
            messages.SUCCESS,
        )

    @admin.action(description=_("Revoke the selected calendar links"), permissions=["change"])
    def revoke(self, request, queryset):
        for feed in queryset:
            services.feed_token_revoke(feed=feed, actor=request.user)
        self.message_user(request, _("Revoked."), messages.SUCCESS)


class OverrideForm(forms.ModelForm):
    class Meta:
        model = Override
        fields = ["schedule", "user", "starts_at", "ends_at", "reason"]

    def _post_clean(self):
        # The service's own checks, so that the admin refuses what the API refuses, by field.
        super()._post_clean()
        if self.instance.pk or self.errors:
            return
        data = self.cleaned_data
        try:
            services.check_override(
                user=data.get("user"), starts_at=data.get("starts_at"), ends_at=data.get("ends_at")
            )
        except ValidationError as error:
            self.add_error(None, error)


@admin.register(Override)
class OverrideAdmin(admin.ModelAdmin):
    """Overrides by a form (or inline on the schedule): through `services.override_create`;
    never edited (removed and added again), so that the audit log reads as what happened."""

    form = OverrideForm
    list_display = ["schedule", "user", "starts_at", "ends_at", "reason", "swap", "created_by"]
    list_filter = ["schedule"]
    date_hierarchy = "starts_at"
    list_select_related = ["schedule", "user", "created_by"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["schedule", "user", "starts_at", "ends_at", "reason", "swap", "created_by"]

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        override = services.override_create(
            schedule=data["schedule"],
            user=data["user"],
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            reason=data.get("reason", ""),
            actor=request.user,
        )
        adopt(obj, override)

    def delete_model(self, request, obj):
        record_delete(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            record_delete(obj, actor=request.user)
