"""Admin for teams, policies (levels inline, dry-run panel) and escalations; every change
goes through the services, as the API's do."""

from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from config.admin import ReadOnlyInline, ViewOnly, adopt, refusal_text
from config.base import ActionNotAllowed
from incidents.models import Incident, Severity

from . import selectors
from .models import Escalation, EscalationLevel, EscalationPolicy, Team, check_levels
from .services import policies, timers


class TeamForm(forms.ModelForm):
    """The channel's webhook is a secret: typed in, never shown back; left empty, it stays."""

    chat_webhook_url = forms.URLField(
        label=_("chat webhook URL"),
        required=False,
        assume_scheme="https",
        widget=forms.PasswordInput(render_value=False, attrs={"size": 60}),
        help_text=_("Leave empty to keep the current one."),
    )
    chat_webhook_clear = forms.BooleanField(label=_("remove the webhook"), required=False)

    class Meta:
        model = Team
        fields = [*policies.TEAM_FIELDS, "members"]

    def clean(self):
        data = super().clean()
        if data.get("chat_webhook_clear"):
            data["chat_webhook_url"] = ""
        elif not data.get("chat_webhook_url") and self.instance.pk:
            data["chat_webhook_url"] = self.instance.chat_webhook_url
        return data


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    form = TeamForm
    list_display = ["name", "name_ja", "name_en", "email", "language", "chat"]
    search_fields = ["name", "name_ja", "name_en", "email"]
    filter_horizontal = ["members"]
    fields = [*policies.TEAM_FIELDS, "chat_webhook", "chat_webhook_clear", "members"]
    readonly_fields = ["chat_webhook"]

    @admin.display(description=_("chat"))
    def chat(self, obj):
        return obj.get_chat_kind_display() if obj.has_chat else "—"

    @admin.display(description=_("current webhook"))
    def chat_webhook(self, obj):
        """Its host only: the rest of the URL is the secret."""
        if not obj.chat_webhook_url:
            return "—"
        return f"{urlsplit(obj.chat_webhook_url).hostname}/…"

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in policies.TEAM_FIELDS}
        members = form.cleaned_data["members"]
        if change:
            policies.team_update(team=obj, actor=request.user, members=members, **fields)
        else:
            adopt(obj, policies.team_create(actor=request.user, members=members, **fields))

    def save_related(self, request, form, formsets, change):
        pass  # the members were set by the service

    def delete_model(self, request, obj):
        policies.team_delete(team=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for team in queryset:
            policies.team_delete(team=team, actor=request.user)


class LevelFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        levels = [
            (form.cleaned_data["number"], form.cleaned_data["delay"])
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("number") is not None
            and form.cleaned_data.get("delay") is not None
        ]
        if problems := check_levels(levels):
            raise ValidationError(problems)


class LevelInline(admin.StackedInline):
    model = EscalationLevel
    formset = LevelFormSet
    extra = 0
    fields = [
        ("number", "name"),
        ("delay", "min_severity", "emergency_contact"),
        "teams",
        "users",
        "schedules",
        "emails",
    ]
    filter_horizontal = ["teams", "users", "schedules"]
    ordering = ["number"]


def plan_table(plan) -> str:
    if not plan:
        return format_html("<em>{}</em>", _("No level applies."))
    rows = format_html_join(
        "",
        "<tr><td>+{}</td><td>L{} {}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                _offset(row["offset_seconds"]),
                row["level"],
                row["name"],
                ", ".join(
                    [
                        *(
                            f"{o['schedule']}: {o['name'] or _('nobody on call')}"
                            for o in row.get("oncall", [])
                        ),
                        *row["recipients"],
                    ]
                )
                or "—",
                row["delivery"],
            )
            for row in plan
        ),
    )
    return format_html(
        "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>",
        _("after detection"),
        _("level"),
        _("recipients"),
        _("delivery"),
        rows,
    )


def _offset(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "is_default",
        "stop_on",
        "severities",
        "categories",
        "unreached",
        "updated_at",
    ]
    list_filter = ["is_default", "stop_on"]
    search_fields = ["name", "description"]
    inlines = [LevelInline]
    readonly_fields = ["simulation"]
    fields = ["name", "description", "is_default", "stop_on", "severities", "categories"]

    def get_fields(self, request, obj=None):
        return [*self.fields, "simulation"] if obj else self.fields

    def save_model(self, request, obj, form, change):
        pass  # written with its levels in save_related, through the service

    def save_related(self, request, form, formsets, change):
        """The policy and its levels in one service call, as the API writes them."""
        (levels,) = formsets
        levels.save(commit=False)  # only the admin's record of what changed; nothing is saved
        specs = [
            policies.LevelSpec(
                number=data["number"],
                name=data["name"],
                delay=data["delay"],
                min_severity=data["min_severity"],
                emergency_contact=data["emergency_contact"],
                teams=list(data["teams"]),
                users=list(data["users"]),
                schedules=list(data["schedules"]),
                emails=data["emails"],
            )
            for data in (level.cleaned_data for level in levels.forms)
            if data and not data.get("DELETE")
        ]
        fields = {name: form.cleaned_data[name] for name in self.fields}
        if change:
            policies.policy_update(policy=form.instance, actor=request.user, levels=specs, **fields)
        else:
            adopt(form.instance, policies.policy_create(actor=request.user, levels=specs, **fields))

    def delete_model(self, request, obj):
        policies.policy_delete(policy=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for policy in queryset:
            policies.policy_delete(policy=policy, actor=request.user)

    @admin.display(description=_("reaches nobody"))
    def unreached(self, obj):
        levels = obj.unreached_levels()
        if not levels:
            return "—"
        return format_html(
            '<strong style="color:#ba2121">{}</strong>', ", ".join(f"L{n}" for n in levels)
        )

    @admin.display(description=_("dry run (incident detected now, never resolved)"))
    def simulation(self, obj):
        """The planned timeline per severity, from the code that escalates for real."""
        parts = []
        snapshot = obj.snapshot()
        if levels := obj.unreached_levels(snapshot):
            parts.append(
                format_html(
                    '<p style="color:#ba2121"><strong>{}</strong></p>',
                    selectors.unreached_warning(obj.name, levels),
                )
            )
        for severity in Severity.values:
            plan = selectors.policy_simulate(
                policy=obj,
                severity=severity,
                category="system",
                detected_at=timezone.now(),
                snapshot=snapshot,
            )
            parts.append(format_html("<h4>{}</h4>{}", severity, plan_table(plan)))
        return format_html_join("", "{}", ((p,) for p in parts))


class EscalationInline(ReadOnlyInline):
    """The incident's escalation history: what fired, when, for whom."""

    model = Escalation
    fields = ["level", "name", "deadline", "fired_at", "reason", "actor", "note", "recipients"]
    ordering = ["level"]
    verbose_name_plural = _("escalation history")


class IncidentEscalationMixin:
    """What the incident admin shows and does for escalation (panel, history, button)."""

    escalation_fields = ["policy", "escalation_level", "next_escalation_at", "policy_plan"]

    @admin.display(description=_("frozen escalation plan"))
    def policy_plan(self, obj):
        snapshot = obj.policy_snapshot or {}
        if not snapshot.get("levels"):
            return _("No escalation policy.")
        rows = [
            {
                "level": lv["number"],
                "name": lv["name"],
                "offset_seconds": lv["delay_seconds"],
                "recipients": [r["address"] for r in lv["recipients"]],
                "oncall": lv.get("oncall", []),  # who was on call at declaration
                "delivery": (lv["min_severity"] and f"≥ {lv['min_severity']}") or "",
            }
            for lv in snapshot["levels"]
        ]
        return format_html("{}: {}{}", _("policy"), snapshot.get("name"), plan_table(rows))

    def get_inlines(self, request, obj):
        inlines = super().get_inlines(request, obj)
        return inlines if obj else [i for i in inlines if i is not EscalationInline]

    def get_urls(self):
        return [
            path(
                "<path:object_id>/escalate/",
                self.admin_site.admin_view(self.escalate_view),
                name="incidents_incident_escalate",
            ),
            *super().get_urls(),
        ]

    def escalate_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        incident = get_object_or_404(Incident, pk=object_id)
        try:
            fired = timers.incident_escalate(
                incident=incident,
                actor=request.user,
                reason=request.POST.get("escalate_reason", ""),
            )
        except (ActionNotAllowed, PermissionDenied, ValidationError) as err:
            self.message_user(request, refusal_text(err), messages.ERROR)
        else:
            self.message_user(
                request,
                _("Escalated to level %(n)d.") % {"n": fired[-1].level},
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[object_id]))


@admin.register(Escalation)
class EscalationAdmin(ViewOnly, admin.ModelAdmin):
    list_display = ["incident", "level", "name", "deadline", "fired_at", "reason", "severity"]
    list_filter = ["level", "reason", "severity", "fired_at"]
    list_select_related = ["incident"]
    raw_id_fields = ["incident"]
