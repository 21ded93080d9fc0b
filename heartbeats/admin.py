"""Heartbeats in the admin: managers configure them (through the services: permission,
validation, audit); responders, executives and managers see their state and last log."""

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from config.admin import adopt

from . import services
from .models import STATUS_LABELS, Heartbeat
from .snippets import heartbeat_snippet

SETTINGS = [
    "name",
    "description",
    "schedule",
    "interval",
    "cron",
    "grace",
    "severity",
    "policy",
    "enabled",
    "checklist_item",
]
STATE = [
    "current_status",
    "ping_url",
    "snippet",
    "deadline",
    "started_at",
    "last_ping_at",
    "last_ping_kind",
    "pings",
    "incident",
    "last_log_truncated",
    "log",
    "created_at",
]


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "current_status",
        "schedule_text",
        "grace",
        "severity",
        "last_ping_at",
        "deadline",
        "incident",
        "enabled",
    ]
    list_filter = ["enabled", "status", "schedule", "severity"]
    search_fields = ["name", "description"]
    list_select_related = ["incident"]
    fields = [*SETTINGS, *STATE]
    readonly_fields = STATE

    @admin.display(description=_("status"))
    def current_status(self, obj):
        return STATUS_LABELS[obj.get_status(timezone.now())]

    @admin.display(description=_("schedule"))
    def schedule_text(self, obj):
        return obj.schedule_text()

    @admin.display(description=_("ping URL"))
    def ping_url(self, obj):
        return obj.ping_url() if obj.pk else "—"

    @admin.display(description=_("for the job"))
    def snippet(self, obj):
        return format_html("<pre>{}</pre>", heartbeat_snippet(obj)) if obj.pk else "—"

    @admin.display(description=_("last log"))
    def log(self, obj):
        return format_html("<pre>{}</pre>", obj.last_log) if obj.last_log else "—"

    def save_model(self, request, obj, form, change):
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            adopt(
                obj, services.heartbeat_update(heartbeat=obj, actor=request.user, changes=changes)
            )
            return
        data = {name: form.cleaned_data[name] for name in SETTINGS}
        adopt(obj, services.heartbeat_create(actor=request.user, **data))

    def delete_model(self, request, obj):
        services.heartbeat_delete(heartbeat=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            services.heartbeat_delete(heartbeat=obj, actor=request.user)
