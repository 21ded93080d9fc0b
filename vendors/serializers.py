from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from config.api import StrictCharField, StrictInputSerializer

from .models import Vendor, VendorTicket


class VendorSerializer(serializers.ModelSerializer):
    provides = serializers.CharField(read_only=True)
    support_channel = serializers.CharField(read_only=True)
    # Blank for a vendor reached only through its channel (the CDN's desks): not a URI then.
    support_url = serializers.CharField(
        read_only=True, help_text=_("The support page's URL; empty when there is none.")
    )

    class Meta:
        model = Vendor
        fields = [
            "key",
            "name",
            "provides",
            "support_channel",
            "support_url",
            "plan",
            "notes",
            "services",
            "is_active",
        ]
        read_only_fields = fields


class VendorTicketSerializer(serializers.ModelSerializer):
    vendor = serializers.SlugRelatedField(slug_field="key", read_only=True)
    vendor_name = serializers.CharField(source="vendor.name", read_only=True)
    opened_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    closed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = VendorTicket
        fields = [
            "id",
            "vendor",
            "vendor_name",
            "reference",
            "note",
            "status",
            "opened_at",
            "opened_by",
            "closed_at",
            "closed_by",
        ]
        read_only_fields = fields


class VendorTicketOpenSerializer(StrictInputSerializer):
    vendor = serializers.SlugRelatedField(
        slug_field="key",
        queryset=Vendor.objects.filter(is_active=True),
        help_text=_("The vendor's key, e.g. vercel."),
    )
    reference = StrictCharField(max_length=200, help_text=_("The vendor's ticket number or URL."))
    note = StrictCharField(max_length=500, required=False, default="", allow_blank=True)
    opened_at = serializers.DateTimeField(
        required=False, help_text=_("When it was opened, if not now (ISO 8601).")
    )


class VendorTicketCloseSerializer(StrictInputSerializer):
    note = StrictCharField(max_length=500, required=False, default="", allow_blank=True)
