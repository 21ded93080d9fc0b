from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from config.api import RejectUnknownFields, StrictCharField, StrictInputSerializer
from incidents.models import Severity
from incidents.serializers import IncidentSerializer

from .models import Integration
from .services import INTEGRATION_FIELDS


class IntegrationSerializer(RejectUnknownFields, serializers.ModelSerializer):
    endpoint = serializers.SerializerMethodField()

    class Meta:
        model = Integration
        fields = ["id", "kind", *INTEGRATION_FIELDS, "secret_hint", "endpoint", "created_at"]
        read_only_fields = ["id", "secret_hint", "endpoint", "created_at"]

    def get_endpoint(self, integration) -> str:
        return integration.endpoint_url()


class IntegrationCreatedSerializer(IntegrationSerializer):
    secret = serializers.CharField(read_only=True, help_text=_("Shown once; store it now."))

    class Meta(IntegrationSerializer.Meta):
        fields = [*IntegrationSerializer.Meta.fields, "secret"]


class GenericAlertSerializer(StrictInputSerializer):
    title = StrictCharField(max_length=200)
    severity = serializers.ChoiceField(Severity.choices)
    dedup_key = StrictCharField(required=False, max_length=255)
    source = StrictCharField(required=False, allow_blank=True, max_length=255)
    service = StrictCharField(required=False, allow_blank=True, max_length=100)
    details = serializers.DictField(required=False)
    status = serializers.ChoiceField(["firing", "resolved"], required=False, default="firing")


class GenericAlertAcceptedSerializer(serializers.Serializer):
    status = serializers.CharField()
    # None when the alert changed no incident (a resolution of nothing open).
    incident = IncidentSerializer(allow_null=True)
