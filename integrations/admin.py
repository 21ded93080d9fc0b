from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from config.admin import ViewOnly, adopt
from config.base import duration_text

from . import services
from .models import AlertDelivery, Integration
from .snippets import integration_snippet


class IntegrationAddForm(forms.ModelForm):
    class Meta:
        model = Integration
        fields = ["kind", *services.INTEGRATION_FIELDS]


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "enabled",
        "auto_resolve",
        "grouping_rule",
        "endpoint",
        "created_at",
    ]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    readonly_fields = ["secret_hint", "user", "endpoint", "configuration", "created_at"]
    actions = ["rotate_secret"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = IntegrationAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        fields = list(IntegrationAddForm.Meta.fields)
        if obj is None:
            return fields
        fields.remove("kind")
        return ["kind_display", *fields, *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "kind_display"] if obj else []

    @admin.display(description=_("kind"))
    def kind_display(self, obj):
        return obj.get_kind_display()

    @admin.display(description=_("grouping"))
    def grouping_rule(self, obj):
        if not obj.group_by:
            return obj.get_grouping_display()
        return _("%(labels)s within %(window)s of the group's latest alert") % {
            "labels": " + ".join(obj.group_by),
            "window": duration_text(obj.group_window),
        }

    @admin.display(description=_("endpoint"))
    def endpoint(self, obj):
        return obj.endpoint_url()

    @admin.display(description=_("configuration"))
    def configuration(self, obj):
        return format_html("<pre>{}</pre>", integration_snippet(obj))

    def save_model(self, request, obj, form, change):
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            services.integration_update(integration=obj, actor=request.user, **changes)
            return
        data = {name: form.cleaned_data[name] for name in IntegrationAddForm.Meta.fields}
        integration, secret = services.integration_create(actor=request.user, **data)
        adopt(obj, integration)
        self._show_secret(request, integration, secret)

    def delete_model(self, request, obj):
        services.integration_delete(integration=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for integration in queryset:
            services.integration_delete(integration=integration, actor=request.user)

    def _show_secret(self, request, integration, secret):
        self.message_user(
            request,
            format_html(
                "{}<br><code>{}</code><pre>{}</pre>",
                _("The secret is shown this once; only its hash is stored:"),
                secret,
                integration_snippet(integration, secret),
            ),
            messages.WARNING,
        )

    @admin.action(
        description=_("Issue a new secret (the old one stops working)"), permissions=["change"]
    )
    def rotate_secret(self, request, queryset):
        for integration in queryset:
            secret = services.integration_rotate_secret(integration=integration, actor=request.user)
            self._show_secret(request, integration, secret)


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ViewOnly, admin.ModelAdmin):
    """Alerts accepted and not applied yet: normally empty within a second. What stays here
    with an error was set aside after repeated failures."""

    list_display = ["id", "integration", "received_at", "attempts", "failed_at", "error"]
    list_filter = [("failed_at", admin.EmptyFieldListFilter), "integration"]
    list_select_related = ["integration"]
    fields = ["integration", "received_at", "attempts", "failed_at", "error", "body"]
    readonly_fields = fields
    actions = ["retry"]

    def has_retry_permission(self, request):
        return request.user.has_perm("integrations.change_alertdelivery")

    @admin.action(description=_("Put set-aside deliveries back in line"), permissions=["retry"])
    def retry(self, request, queryset):
        count = services.deliveries_retry(deliveries=queryset, actor=request.user)
        self.message_user(
            request,
            ngettext(
                "%(count)d delivery is back in line.",
                "%(count)d deliveries are back in line.",
                count,
            )
            % {"count": count},
        )
