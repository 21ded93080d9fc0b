"""Vendors and their tickets in the admin; every ticket write goes through `vendors.services`."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from config.admin import ThroughServices, adopt, refusal_text
from config.base import ActionNotAllowed

from . import services
from .models import Vendor, VendorTicket
from .selectors import incident_vendor_contacts


@admin.register(Vendor)
class VendorAdmin(ThroughServices, admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "provides_ja", "support_channel_ja", "support_url", "services", "key"]
    list_filter = ["is_active"]
    search_fields = ["key", "name", "provides_ja", "provides_en", "notes"]
    fieldsets = [
        (None, {"fields": ["key", "name", "is_active", "services"]}),
        (
            _("What it provides and how to reach it"),
            {
                "fields": [
                    ("provides_ja", "provides_en"),
                    ("support_channel_ja", "support_channel_en"),
                    "support_url",
                    "plan",
                    "notes",
                ]
            },
        ),
    ]


def vendor_contacts_html(incident) -> str:
    """The affected service's vendors, with how to reach them: for the incident's page."""
    contacts = incident_vendor_contacts(incident)
    if not contacts:
        return "—"
    return format_html_join(
        "",
        "<p><strong>{}</strong> ({}): {} {}{}</p>",
        (
            (
                c["name"],
                c["provides"] or "—",
                c["channel"],
                format_html('<a href="{}" rel="noopener">{}</a>', c["url"], c["url"])
                if c["url"]
                else "",
                format_html(" · {} {}", _("open tickets:"), ", ".join(c["open_tickets"]))
                if c["open_tickets"]
                else "",
            )
            for c in contacts
        ),
    )


class VendorTicketInlineForm(forms.ModelForm):
    class Meta:
        model = VendorTicket
        fields = ["vendor", "reference", "note", "status"]

    def clean_vendor(self):
        vendor = self.cleaned_data["vendor"]
        # The vendor of a recorded ticket is its identity: a wrong one is a new ticket.
        if self.instance.pk and vendor != self.instance.vendor:
            raise ValidationError(_("A recorded ticket keeps its vendor; open a new one."))
        return vendor

    def clean_status(self):
        status = self.cleaned_data["status"]
        if self.instance.status == VendorTicket.Status.CLOSED and status != self.instance.status:
            raise ValidationError(_("A closed vendor ticket stays closed; open a new one."))
        return status


class VendorTicketInline(admin.TabularInline):
    """For the incident page: the tickets opened with vendors (add to IncidentAdmin.inlines);
    its rows are saved by `save_vendor_tickets`."""

    model = VendorTicket
    form = VendorTicketInlineForm
    extra = 0
    can_delete = False
    fields = ["vendor", "reference", "note", "status", "opened_at", "opened_by", "closed_at"]
    readonly_fields = ["opened_at", "opened_by", "closed_at"]


def save_vendor_tickets(formset, *, incident, actor) -> None:
    """What the incident page's ticket rows changed, each through its service: a new row opens
    a ticket, a status set to closed closes one, an edited reference or note is corrected."""
    formset.save(commit=False)  # sorts the forms into new and changed; saves nothing
    for ticket, changed in formset.changed_objects:
        edits = {name: getattr(ticket, name) for name in changed if name in services.TICKET_FIELDS}
        if edits:
            services.vendor_ticket_update(ticket=ticket, actor=actor, **edits)
        if "status" in changed and ticket.status == VendorTicket.Status.CLOSED:
            services.vendor_ticket_close(ticket=ticket, actor=actor)
    for ticket in formset.new_objects:
        opened = services.vendor_ticket_open(
            incident=incident,
            vendor=ticket.vendor,
            reference=ticket.reference,
            note=ticket.note,
            actor=actor,
        )
        if ticket.status == VendorTicket.Status.CLOSED:
            opened = services.vendor_ticket_close(ticket=opened, actor=actor)
        adopt(ticket, opened)


class VendorTicketForm(forms.ModelForm):
    class Meta:
        model = VendorTicket
        fields = ["incident", "vendor", "reference", "note"]


@admin.register(VendorTicket)
class VendorTicketAdmin(admin.ModelAdmin):
    """Every incident's vendor tickets in one list: which are still open, with whom."""

    form = VendorTicketForm
    list_display = ["reference", "vendor", "incident", "status", "opened_at", "opened_by"]
    list_filter = ["status", "vendor", "opened_at"]
    search_fields = ["reference", "note", "incident__title"]
    list_select_related = ["vendor", "incident", "opened_by"]
    raw_id_fields = ["incident"]
    actions = ["close_tickets"]

    def get_readonly_fields(self, request, obj=None):
        recorded = ["status", "opened_at", "opened_by", "closed_at", "closed_by"]
        return ["incident", "vendor", *recorded] if obj else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["incident", "vendor", "reference", "note"]
        return ["incident", "vendor", "reference", "note", *self.get_readonly_fields(request, obj)]

    def has_delete_permission(self, request, obj=None):
        return False  # a record of what was asked of whom: closed, never deleted

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            edits = {name: data[name] for name in form.changed_data}
            services.vendor_ticket_update(ticket=obj, actor=request.user, **edits)
            return
        ticket = services.vendor_ticket_open(
            incident=data["incident"],
            vendor=data["vendor"],
            reference=data["reference"],
            note=data["note"],
            actor=request.user,
        )
        adopt(obj, ticket)

    @admin.action(description=_("Close the selected vendor tickets"), permissions=["close"])
    def close_tickets(self, request, queryset):
        done, refused = 0, []
        for ticket in queryset:
            try:
                services.vendor_ticket_close(ticket=ticket, actor=request.user)
                done += 1
            except (ActionNotAllowed, PermissionDenied) as error:
                refused.append(f"{ticket.reference}: {refusal_text(error)}")
        if done:
            self.message_user(
                request,
                ngettext("%(n)d vendor ticket closed.", "%(n)d vendor tickets closed.", done)
                % {"n": done},
                messages.SUCCESS,
            )
        for text in refused:
            self.message_user(request, text, messages.WARNING)

    def has_close_permission(self, request):
        return request.user.has_perm("vendors.close_vendorticket")
