"""The outbox in the admin: what was sent, what waits and what failed; managers retry."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from config.admin import QuickRows, ViewOnly

from . import services
from .models import Notice


@admin.register(Notice)
class NoticeAdmin(QuickRows, ViewOnly, admin.ModelAdmin):
    list_display = [
        "pk",
        "kind",
        "incident",
        "escalation",
        "recipient",
        "delivery",
        "status",
        "attempts",
        "sent_at",
        "short_error",
    ]
    list_filter = ["status", "kind", "delivery", "channel", "language", "created_at"]
    search_fields = ["recipient", "incident__title", "last_error"]
    list_select_related = ["incident", "escalation"]
    raw_id_fields = ["incident", "escalation", "digest"]
    actions = ["retry"]

    @admin.display(description=_("last error"))
    def short_error(self, obj):
        return obj.last_error[:80]

    @admin.action(description=_("Retry the selected failed notices"), permissions=["retry"])
    def retry(self, request, queryset):
        count = services.notice_retry(notices=queryset, actor=request.user)
        self.message_user(
            request, _("%(n)d notices queued again.") % {"n": count}, messages.SUCCESS
        )

    def has_retry_permission(self, request):
        return request.user.has_perm(services.RETRY_PERMISSION)
