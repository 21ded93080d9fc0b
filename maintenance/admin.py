"""Maintenance windows in the admin: opened through `maintenance.services.open_window` (its
rules and refusals are the API's), closed early by an action, never edited or deleted (what
was held when is history)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.admin import ReadOnlyInline, ViewOnly, adopt, refusal_text

from . import services
from .models import HeldAlert, MaintenanceWindow

OPEN_FIELDS = ["service", "matchers", "starts_at", "ends_at", "reason", "pages_p0", "reference"]


class WindowForm(forms.ModelForm):
    class Meta:
        model = MaintenanceWindow
        fields = OPEN_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "starts_at" in self.fields:
            self.fields["starts_at"].required = False
            self.fields["starts_at"].help_text = _("Empty: now.")

    def _post_clean(self):
        # The service's own check, so that the admin refuses what the API refuses, by field.
        super()._post_clean()
        if self.instance.pk or self.errors:
            return
        data = self.cleaned_data
        try:
            checked = services.window_check(
                service=data.get("service", ""),
                matchers=data.get("matchers"),
                starts_at=data.get("starts_at"),
                ends_at=data.get("ends_at"),
            )
        except ValidationError as error:
            self.add_error(None, error)
        else:
            data.update(checked)


class HeldAlertInline(ReadOnlyInline):
    model = HeldAlert
    fields = [
        "status",
        "severity",
        "title",
        "fingerprint",
        "integration",
        "first_received_at",
        "times_received",
        "released_at",
        "incident",
    ]


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    form = WindowForm
    list_display = [
        "__str__",
        "starts_at",
        "ends_at",
        "in_force",
        "reason",
        "pages_p0",
        "held",
        "opened_by",
    ]
    list_filter = ["pages_p0", "service"]
    search_fields = ["service", "reason", "reference"]
    date_hierarchy = "starts_at"
    actions = ["close_windows"]

    def get_queryset(self, request):
        held = Count("held_alerts", filter=Q(held_alerts__released_at__isnull=True))
        return super().get_queryset(request).select_related("opened_by").annotate(held=held)

    def get_inlines(self, request, obj):
        return [HeldAlertInline] if obj is not None else []

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [*OPEN_FIELDS, "opened_by", "closed_at", "closed_by", "created_at"]

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj) or OPEN_FIELDS

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("in force"), boolean=True)
    def in_force(self, obj):
        return obj.in_force_at(timezone.now())

    @admin.display(description=_("held"), ordering="held")
    def held(self, obj):
        return obj.held

    def save_model(self, request, obj, form, change):
        if change:
            return  # every field is read only: a window is closed, never edited
        data = form.cleaned_data
        window = services.open_window(
            opened_by=request.user, **{name: data.get(name) for name in OPEN_FIELDS}
        )
        adopt(obj, window)

    @admin.action(description=_("Close the selected windows now"), permissions=["change"])
    def close_windows(self, request, queryset):
        closed = 0
        for window in queryset:
            try:
                services.close_window(window=window, actor=request.user)
            except (PermissionDenied, ValidationError) as error:
                self.message_user(request, refusal_text(error), messages.ERROR)
                return
            closed += 1
        self.message_user(request, _("%(n)d windows closed.") % {"n": closed})


@admin.register(HeldAlert)
class HeldAlertAdmin(ViewOnly, admin.ModelAdmin):
    """The window-held list: alerts that opened nothing because a window covered them."""

    list_display = [
        "title",
        "severity",
        "status",
        "window",
        "integration",
        "first_received_at",
        "times_received",
        "released_at",
        "incident",
    ]
    list_filter = ["status", "severity"]
    search_fields = ["title", "fingerprint", "key"]
    list_select_related = ["window", "integration", "incident"]
