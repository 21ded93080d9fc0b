from rest_framework import serializers

from .models import Alert


class AlertSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "integration",
            "fingerprint",
            "status",
            "summary",
            "source",
            "severity",
            "labels",
            "annotations",
            "links",
            "starts_at",
            "ends_at",
            "first_received_at",
            "last_received_at",
            "times_received",
        ]
        read_only_fields = fields
