from asgiref.local import Local
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext_lazy as _

from config.admin import ThroughServices, ViewOnly, refusal_text
from config.base import ActionNotAllowed

from . import selectors, services
from .models import (
    CONTENT_FIELDS,
    ChecklistRun,
    ChecklistTemplate,
    KnownProblem,
    RunItem,
    TemplateItem,
)

STATUS_MARKS = {RunItem.Status.OPEN: "☐", RunItem.Status.DONE: "☑", RunItem.Status.SKIPPED: "⤼"}


def progress_bar(run: ChecklistRun):
    done, total = run.progress()
    return format_html(
        '<progress value="{}" max="{}" style="width:8em"></progress> {} / {}',
        done,
        max(total, 1),
        done,
        total,
    )


def items_panel(run: ChecklistRun, request) -> str:
    """The run's items with tick / undo / skip buttons that post to the run admin's item view.

    The buttons use `formaction`, so they work inside another change form (the incident's).
    """
    may_tick = request is not None and request.user.has_perm(services.TICK_PERMISSION)
    may_tick = may_tick and not run.is_closed()
    here = request.get_full_path() if request is not None else ""
    statuses = selectors.item_statuses()
    rows = []
    for item in run.items.all():
        buttons = ""
        if may_tick:

            def button(action, label, item=item):
                url = reverse("admin:checklists_runitem_action", args=[item.pk, action])
                return format_html(
                    '<button type="submit" formmethod="post" formnovalidate '
                    'formaction="{}?{}" class="button">{}</button> ',
                    url,
                    urlencode({"next": here}),
                    label,
                )

            if item.status == RunItem.Status.OPEN:
                buttons = format_html(
                    '{}<input name="skip_reason_{}" placeholder="{}" size="18"> {}',
                    button("done", _("Done")),
                    item.pk,
                    _("reason to skip"),
                    button("skip", _("Skip")),
                )
            else:
                buttons = button("undo", _("Undo"))
        who = ""
        if item.status != RunItem.Status.OPEN and item.at:
            who = format_html(
                "{} {:%Y-%m-%d %H:%M} {}",
                item.by or "",
                timezone.localtime(item.at),
                item.skip_reason,
            )
        command = format_html("<pre><code>{}</code></pre>", item.command) if item.command else ""
        status = statuses.get(item.template_item_id)
        live = format_html("<div><strong>{}</strong></div>", status) if status else ""
        rows.append(
            format_html(
                "<tr><td>{}</td><td>{}{}{}{}<div class='help'>{}</div></td>"
                "<td>{}</td><td>{}</td></tr>",
                STATUS_MARKS[item.status],
                item.text,
                "" if item.required else format_html(" <em>({})</em>", _("optional")),
                live,
                command,
                item.help,
                who,
                buttons,
            )
        )
    return format_html("<table>{}</table>", format_html_join("", "{}", ((row,) for row in rows)))


class TemplateItemInline(admin.TabularInline):
    model = TemplateItem
    extra = 0
    fields = CONTENT_FIELDS


@admin.register(ChecklistTemplate)
class ChecklistTemplateAdmin(ThroughServices, admin.ModelAdmin):
    list_display = ["name_ja", "name_en", "key", "kind", "schedule", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["key", "name_ja", "name_en"]
    inlines = [TemplateItemInline]


class OverdueFilter(admin.SimpleListFilter):
    title = _("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Overdue")), ("no", _("Not overdue"))]

    def queryset(self, request, queryset):
        overdue = ChecklistRun.overdue_q(timezone.now())
        if self.value() == "yes":
            return queryset.filter(overdue)
        if self.value() == "no":
            return queryset.exclude(overdue)
        return queryset


# The request being rendered, per thread: admin instances are shared by every request.
_rendering = Local()


class RunPanel:
    """A run's progress bar and tick boxes, for the run's own page and the incident's."""

    def get_queryset(self, request):
        _rendering.request = request  # the checklist panel needs the user
        return selectors.runs_with_items()

    @admin.display(description=_("progress"))
    def progress(self, obj):
        return progress_bar(obj)

    @admin.display(description=_("checklist"))
    def checklist(self, obj):
        return items_panel(obj, getattr(_rendering, "request", None))


@admin.register(ChecklistRun)
class ChecklistRunAdmin(RunPanel, admin.ModelAdmin):
    list_display = ["__str__", "kind", "incident", "due_at", "progress", "overdue", "completed_at"]
    list_filter = ["kind", OverdueFilter]
    date_hierarchy = "created_at"
    fields = [
        "template",
        "kind",
        "incident",
        "period_start",
        "due_at",
        "completed_at",
        "overdue_notified_at",
        "progress",
        "checklist",
    ]
    readonly_fields = fields

    @admin.display(description=_("overdue"), boolean=True)
    def overdue(self, obj):
        return obj.is_overdue()

    def has_add_permission(self, request):
        return False  # runs come from incidents and the schedule

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path(
                "item/<int:item_id>/<str:action>/",
                self.admin_site.admin_view(self.item_action),
                name="checklists_runitem_action",
            ),
            *super().get_urls(),
        ]

    def item_action(self, request, item_id, action):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        item = get_object_or_404(RunItem.objects.select_related("run"), pk=item_id)
        try:
            if action == "done":
                services.run_item_tick(item=item, actor=request.user)
            elif action == "undo":
                services.run_item_undo(item=item, actor=request.user)
            elif action == "skip":
                reason = request.POST.get(f"skip_reason_{item.pk}", "")
                services.run_item_skip(item=item, actor=request.user, reason=reason)
            else:
                return HttpResponseNotAllowed(["POST"])
        except (ValidationError, PermissionDenied, ActionNotAllowed) as err:
            messages.error(request, refusal_text(err))
        target = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = item.run.get_admin_url()
        return HttpResponseRedirect(target)


class IncidentChecklistInline(RunPanel, ViewOnly, admin.StackedInline):
    """For the incident page: its checklist runs with tick boxes (add to IncidentAdmin.inlines)."""

    model = ChecklistRun
    fk_name = "incident"
    extra = 0
    can_delete = False
    fields = ["progress", "checklist"]
    readonly_fields = fields
    verbose_name = _("checklist")
    verbose_name_plural = _("checklists")

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("pk")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("checklists.view_checklistrun")


@admin.register(KnownProblem)
class KnownProblemAdmin(ThroughServices, admin.ModelAdmin):
    list_display = ["title_ja", "title_en", "symptom_ja", "key"]
    search_fields = ["key", "title_ja", "title_en", "symptom_ja", "symptom_en", "keywords"]
