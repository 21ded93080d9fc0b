import json

import markdown
import nh3
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext_lazy as _
from django_fsm.admin import FSMAdminMixin

from alerts.admin import AlertInline
from changes.selectors import incident_changes
from checklists.admin import IncidentChecklistInline
from checklists.selectors import known_problems_for
from config.admin import QuickRows, ViewOnly, adopt, refusal_text
from config.api import CappedCountPaginator
from config.base import JST, ActionNotAllowed
from escalation.admin import EscalationInline, IncidentEscalationMixin
from vendors.admin import VendorTicketInline, save_vendor_tickets, vendor_contacts_html
from vendors.models import VendorTicket

from . import postmortems, selectors, services
from .models import Action, ActionItem, Incident, Postmortem, Severity, State, TimelineEvent

SEVERITY_COLOURS = {
    Severity.P0: "#b91c1c",
    Severity.P1: "#ea580c",
    Severity.P2: "#ca8a04",
    Severity.P3: "#4b5563",
}
STATE_COLOURS = {
    State.DETECTED: "#b91c1c",
    State.TRIAGE: "#ea580c",
    State.INVESTIGATING: "#ca8a04",
    State.RECOVERING: "#2563eb",
    State.POSTMORTEM: "#7c3aed",
    State.CLOSED: "#15803d",
    State.DISMISSED: "#6b7280",
}
# The labels stay lazy, read in the request's language; get_FOO_display() built a dict of the
# choices again for each call, twice a row.
SEVERITY_LABELS = dict(Severity.choices)
STATE_LABELS = dict(State.choices)


def badge(text, colour):
    return format_html(
        '<span style="background:{};color:#fff;padding:2px 8px;border-radius:9px;'
        'white-space:nowrap">{}</span>',
        colour,
        text,
    )


TIMELINE_SHOWN = 200


def save_action_items(formset, *, incident: Incident, actor) -> None:
    """What an action item formset changed, each change through its service."""
    formset.save(commit=False)  # sorts the forms into new, changed and deleted; saves nothing
    for item in formset.deleted_objects:
        services.action_item_delete(item=item, actor=actor)
    for item, changed in formset.changed_objects:
        services.action_item_update(
            item=item, actor=actor, **{name: getattr(item, name) for name in changed}
        )
    for item in formset.new_objects:
        fields = {name: getattr(item, name) for name in services.ACTION_ITEM_FIELDS}
        adopt(item, services.action_item_add(incident=incident, actor=actor, **fields))


class ActionItemInline(admin.TabularInline):
    model = ActionItem
    extra = 0
    fields = ["title", "owner", "due_date", "status", "link"]
    autocomplete_fields = ["owner"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


class IncidentForm(forms.ModelForm):
    new_note = forms.CharField(
        label=_("Add a note"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    class Meta:
        model = Incident
        fields = [
            "title",
            "severity",
            "category",
            "service",
            "commander",
            "summary",
            "impact",
            "root_cause",
            "resolution",
            "detected_at",
        ]


@admin.register(Incident)
class IncidentAdmin(QuickRows, IncidentEscalationMixin, FSMAdminMixin, admin.ModelAdmin):
    form = IncidentForm
    fsm_fields = ["state"]
    change_form_template = "admin/incidents/incident/change_form.html"
    list_display = [
        "key_display",
        "title",
        "severity_badge",
        "state_badge",
        "category",
        "commander",
        "detected_at",
    ]
    list_display_links = ["key_display", "title"]
    list_filter = ["state", "severity", "category", "detected_at"]
    # Counts on request ("Show counts"): on a long history each filter's counts scan it.
    show_facets = admin.ShowFacets.ALLOW
    search_fields = ["title", "summary"]
    # A long history: the page's count stops at API_COUNT_LIMIT, the total is not counted
    # again, and no date drill-down (its years are a query over every incident listed); the
    # detected-at filter chooses a period.
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50  # as the API's page: drawing each row is most of the list's time
    list_select_related = ["commander"]
    readonly_fields = [
        "state_badge",
        "timeline_size",
        "latest_events",
        "known_problems",
        "what_changed",
        "vendors",
        "acknowledged_at",
        "resolved_at",
        "closed_at",
        "dismiss_reason",
        "created_by",
        *IncidentEscalationMixin.escalation_fields,
    ]
    inlines = [
        AlertInline,
        EscalationInline,
        IncidentChecklistInline,
        VendorTicketInline,
        ActionItemInline,
    ]
    actions = ["bulk_acknowledge"]

    def get_fieldsets(self, request, obj=None):
        main = ["title", "severity", "category", "service", "commander", "summary", "impact"]
        if obj is None:
            return [(None, {"fields": [*main, "detected_at"]})]
        return [
            (None, {"fields": ["state_badge", *main, "known_problems", "what_changed", "vendors"]}),
            (_("Postmortem"), {"fields": ["root_cause", "resolution", "dismiss_reason"]}),
            (
                _("Times"),
                {
                    "fields": [
                        "detected_at",
                        "acknowledged_at",
                        "resolved_at",
                        "closed_at",
                        "created_by",
                    ]
                },
            ),
            (_("Escalation"), {"fields": self.escalation_fields}),
            (_("Note"), {"fields": ["new_note", "timeline_size"]}),
            (_("timeline (latest events)"), {"fields": ["latest_events"]}),
        ]

    def has_delete_permission(self, request, obj=None):
        """Incidents are records: a false alarm is dismissed, never deleted."""
        return False

    @staticmethod
    def get_fsm_block_label(fsm_field_name):
        return _("Actions")

    @admin.display(description=_("known problems"))
    def known_problems(self, obj):
        """よくある問題と解決法 that match this incident, best first."""
        problems = known_problems_for(obj)
        if not problems:
            return "—"
        return format_html_join(
            "", "<p><strong>{}</strong><br>{}</p>", ((p.title, p.resolution) for p in problems)
        )

    @admin.display(description=_("vendors to contact"))
    def vendors(self, obj):
        """外部ベンダー連絡先 of the affected service, and the tickets already open."""
        return vendor_contacts_html(obj)

    @admin.display(description=_("timeline"))
    def timeline_size(self, obj):
        """How long the timeline is, and where all of it is when the page shows only the end."""
        count = obj.timeline.count()
        url = reverse("admin:incidents_timelineevent_changelist")
        return format_html(
            '{} · <a href="{}?incident__id__exact={}">{}</a>',
            ngettext(
                "%(n)d event, the latest %(shown)d below",
                "%(n)d events, the latest %(shown)d below",
                count,
            )
            % {"n": count, "shown": min(count, TIMELINE_SHOWN)},
            url,
            obj.pk,
            _("all of them"),
        )

    @admin.display(description=_("timeline (latest events)"))
    def latest_events(self, obj):
        """The latest events, oldest of them first, as a plain table: a day-long outage has
        thousands, and drawn as an inline's forms 200 of them took most of the page's time."""
        labels = {value: str(label) for value, label in TimelineEvent.Kind.choices}
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    formats.localize(timezone.localtime(event.at)),
                    labels.get(event.kind, event.kind),
                    event.actor or "—",
                    event.message,
                    json.dumps(event.data, ensure_ascii=False) if event.data else "",
                )
                for event in selectors.incident_latest_events(obj, count=TIMELINE_SHOWN)
            ),
        )
        head = format_html_join(
            "",
            "<th>{}</th>",
            ((label,) for label in (_("at"), _("kind"), _("actor"), _("message"), _("data"))),
        )
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, rows)

    @admin.display(description=_("key"), ordering="pk")
    def key_display(self, obj):
        return obj.key

    @admin.display(description=_("what changed?"))
    def what_changed(self, obj):
        """一次切り分け: the service's changes in the 24 hours before detection, and the
        changes linked as this incident's cause or fix."""
        found = incident_changes(obj)
        groups = [
            (_("In the 24 hours before detection"), found["recent"]),
            (_("Caused by"), found["caused_by"]),
            (_("Fixed by"), found["fixed_by"]),
        ]
        html = format_html_join(
            "",
            "<p><strong>{}</strong><br>{}</p>",
            (
                (
                    label,
                    format_html_join(
                        SafeString("<br>"),
                        '<a href="{}">{}</a> {} · {} {} · {} · {}',
                        (
                            (
                                c["admin_url"],
                                c["key"],
                                c["kind_label"],
                                c["title"],
                                c["version"],
                                c["started_at"].astimezone(JST).strftime("%Y-%m-%d %H:%M JST"),
                                c["result_label"] or _("in progress"),
                            )
                            for c in changes
                        ),
                    ),
                )
                for label, changes in groups
                if changes
            ),
        )
        return html or _("No change to %(service)s in the 24 hours before detection.") % {
            "service": obj.service or "—"
        }

    @admin.display(description=_("severity"), ordering="severity")
    def severity_badge(self, obj):
        return badge(SEVERITY_LABELS[obj.severity], SEVERITY_COLOURS[obj.severity])

    @admin.display(description=_("state"), ordering="state")
    def state_badge(self, obj):
        return badge(STATE_LABELS[obj.state], STATE_COLOURS[obj.state])

    def get_search_results(self, request, queryset, search_term):
        """The API's search: key, title, summary, alert label values."""
        return selectors.incidents_matching(queryset, search_term), False

    def changelist_view(self, request, extra_context=None):
        counts = selectors.incident_state_counts()
        limit = settings.API_COUNT_LIMIT
        extra_context = (extra_context or {}) | {
            "state_counts": [
                (label, f"{limit}+" if counts[value] > limit else counts[value])
                for value, label in State.choices
            ]
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        incident = self.get_object(request, object_id)
        if incident is not None:
            extra_context = (extra_context or {}) | {
                "blocked_actions": [
                    (Action(name).label, why)
                    for name, ok, why in services.incident_action_states(
                        incident=incident, user=request.user
                    )
                    if not ok
                ]
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        """Every change goes through the services, so the admin records what the API does."""
        data = form.cleaned_data
        if not change:
            incident = services.incident_declare(
                actor=request.user,
                **{
                    name: data[name]
                    for name in form.Meta.fields
                    if data.get(name) is not None and name not in ("root_cause", "resolution")
                },
            )
            adopt(obj, incident)
            return
        changes = {name: data[name] for name in form.changed_data if name != "new_note"}
        if changes:
            services.incident_update(incident=obj, actor=request.user, **changes)
        if data.get("new_note", "").strip():
            services.incident_add_note(incident=obj, actor=request.user, message=data["new_note"])

    def save_formset(self, request, form, formset, change):
        """Action items added, changed or removed on the incident's page: through the services."""
        if formset.model is VendorTicket:
            return save_vendor_tickets(formset, incident=form.instance, actor=request.user)
        if formset.model is not ActionItem:
            return super().save_formset(request, form, formset, change)
        save_action_items(formset, incident=form.instance, actor=request.user)

    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None):
        try:
            services.incident_transition(
                incident=obj, action=transition_name, actor=request.user, **(kwargs or {})
            )
        except (ActionNotAllowed, PermissionDenied, ValidationError) as err:
            self.message_user(request, refusal_text(err), messages.ERROR)
            return False
        self.message_user(
            request,
            _("%(action)s done.") % {"action": Action(transition_name).label},
            messages.SUCCESS,
        )
        return True

    @admin.action(description=_("Acknowledge the selected incidents"))
    def bulk_acknowledge(self, request, queryset):
        done, refused = 0, []
        for incident in queryset:
            try:
                services.incident_transition(
                    incident=incident, action=Action.ACKNOWLEDGE, actor=request.user
                )
                done += 1
            except (ActionNotAllowed, PermissionDenied):
                refused.append(incident.key)
        if done:
            self.message_user(
                request,
                ngettext("%(n)d incident acknowledged.", "%(n)d incidents acknowledged.", done)
                % {"n": done},
                messages.SUCCESS,
            )
        if refused:
            self.message_user(
                request,
                _("Not acknowledged (state or permission): %(keys)s")
                % {"keys": ", ".join(refused)},
                messages.WARNING,
            )


@admin.register(TimelineEvent)
class TimelineEventAdmin(QuickRows, ViewOnly, admin.ModelAdmin):
    list_display = ["at", "incident", "kind", "actor", "message"]
    list_filter = ["kind", "at"]
    search_fields = ["message"]
    list_select_related = ["incident", "actor"]


@admin.register(ActionItem)
class ActionItemAdmin(QuickRows, admin.ModelAdmin):
    """Every incident's follow-ups in one list: what is open, whose, and by when."""

    list_display = ["title", "incident", "owner", "due_date", "status"]
    list_filter = ["status", "due_date", ("owner", admin.RelatedOnlyFieldListFilter)]
    list_editable = ["status"]
    search_fields = ["title", "incident__title"]
    list_select_related = ["incident", "owner"]
    autocomplete_fields = ["owner"]
    raw_id_fields = ["incident"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def save_model(self, request, obj, form, change):
        """The item's page and the list's editable status alike go through the services."""
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            services.action_item_update(item=obj, actor=request.user, **changes)
        else:
            fields = {name: form.cleaned_data[name] for name in services.ACTION_ITEM_FIELDS}
            item = services.action_item_add(
                incident=form.cleaned_data["incident"], actor=request.user, **fields
            )
            adopt(obj, item)

    def delete_model(self, request, obj):
        services.action_item_delete(item=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for item in queryset:
            services.action_item_delete(item=item, actor=request.user)


@admin.register(Postmortem)
class PostmortemAdmin(admin.ModelAdmin):
    list_display = ["incident", "report_path", "report_generated_at", "updated_at"]
    search_fields = ["incident__title"]
    fields = [
        "incident",
        "impact_users",
        "impact_duration",
        "impact_data",
        "contributing_factors",
        "lessons_learned",
        "report_path",
        "report_generated_at",
        "preview",
    ]
    readonly_fields = ["incident", "report_path", "report_generated_at", "preview"]
    actions = ["generate_report"]

    def has_add_permission(self, request):
        return False  # drafts are created when an incident is resolved

    @admin.display(description=_("preview"))
    def preview(self, obj):
        text = postmortems.report_render(incident=obj.incident, language=get_language())
        # The responders' code blocks are kept in the report: shown as code here too.
        html = markdown.markdown(text, extensions=["tables", "fenced_code"])
        return mark_safe(nh3.clean(html))  # noqa: S308 # nosec B308 B703 # sanitised by nh3 just above

    def save_model(self, request, obj, form, change):
        services.postmortem_update(
            incident=obj.incident,
            actor=request.user,
            **{name: form.cleaned_data[name] for name in form.changed_data},
        )

    @admin.action(description=_("Generate the report file"), permissions=["generate"])
    def generate_report(self, request, queryset):
        for postmortem in queryset.select_related("incident"):
            path = services.report_generate(incident=postmortem.incident, actor=request.user)
            self.message_user(request, _("Written: %(path)s") % {"path": path}, messages.SUCCESS)

    def has_generate_permission(self, request):
        return request.user.has_perm("incidents.generate_report")
