"""外部ベンダー連絡先: the vendors the service depends on, and the tickets an incident opens
with them."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from incidents.models import Incident


def service_name(value: str) -> str:
    """How a service name is compared: `Incident.service` is free text ("Payments ")."""
    return " ".join(str(value).split()).casefold()


class Vendor(models.Model):
    """A vendor to contact when a service that depends on it fails (Vercel, Supabase, a CDN).

    `services` lists the names of the services that depend on it, as incidents write them in
    `Incident.service`; an incident's vendors are those listing its service.
    """

    key = models.SlugField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100)
    provides_ja = models.CharField(_("provides (Japanese)"), max_length=200, blank=True)
    provides_en = models.CharField(_("provides (English)"), max_length=200, blank=True)
    support_channel_ja = models.CharField(_("support channel (Japanese)"), max_length=200)
    support_channel_en = models.CharField(
        _("support channel (English)"), max_length=200, blank=True
    )
    support_url = models.URLField(_("support URL"), blank=True)
    plan = models.CharField(_("contract or plan"), max_length=200, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    services = models.JSONField(
        _("dependent services"),
        default=list,
        blank=True,
        help_text=_(
            "Names of the services that depend on this vendor, as incidents give them in their "
            '"service" field, e.g. ["web", "api"]. Compared ignoring case and extra spaces.'
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("vendor")
        verbose_name_plural = _("vendors")
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    def _localized(self, field: str) -> str:
        ja, en = getattr(self, f"{field}_ja"), getattr(self, f"{field}_en")
        if (get_language() or "ja").startswith("en"):
            return en or ja
        return ja or en

    @property
    def provides(self) -> str:
        return self._localized("provides")

    @property
    def support_channel(self) -> str:
        return self._localized("support_channel")

    @property
    def contact(self) -> str:
        """How to reach it, on one line: "サポートチケット経由 https://vercel.com/help"."""
        return " ".join(part for part in (self.support_channel, self.support_url) if part)

    def clean(self) -> None:
        if not isinstance(self.services, list) or not all(
            isinstance(name, str) and name.strip() for name in self.services
        ):
            raise ValidationError({"services": _('A list of service names, e.g. ["web", "api"].')})
        # Stored compared-form and sorted, so that matching is a plain lookup and the admin's
        # diff shows only real changes.
        self.services = sorted({service_name(name) for name in self.services})

    def serves(self, service: str) -> bool:
        return bool(service.strip()) and service_name(service) in self.services


class VendorTicket(models.Model):
    """A ticket (or case, or chat) opened with a vendor about an incident."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    incident = models.ForeignKey(
        Incident,
        on_delete=models.CASCADE,
        related_name="vendor_tickets",
        verbose_name=_("incident"),
    )
    vendor = models.ForeignKey(
        Vendor, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("vendor")
    )
    reference = models.CharField(
        _("reference"),
        max_length=200,
        help_text=_("The vendor's ticket number or its URL."),
    )
    note = models.CharField(_("note"), max_length=500, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.OPEN
    )
    opened_at = models.DateTimeField(_("opened at"))
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("opened by"),
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("closed by"),
    )

    class Meta:
        verbose_name = _("vendor ticket")
        verbose_name_plural = _("vendor tickets")
        ordering = ["opened_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "vendor", "reference"], name="vendor_ticket_once"
            )
        ]
        permissions = [("close_vendorticket", "Can close a vendor ticket")]

    def __str__(self) -> str:
        return f"{self.vendor} {self.reference}"
