from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.services import alerts_ingest
from config.api import AuditedAPIMixin, HasRequiredPermission, ViewModelPermissions
from incidents.serializers import IncidentSerializer

from . import parsers, services
from .models import Integration
from .serializers import (
    GenericAlertAcceptedSerializer,
    GenericAlertSerializer,
    IntegrationCreatedSerializer,
    IntegrationSerializer,
)


class IntegrationViewSet(
    AuditedAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Integration.objects.all()
    serializer_class = IntegrationSerializer
    permission_classes = [ViewModelPermissions]
    http_method_names = ["get", "post", "patch", "head", "options"]

    @extend_schema(request=IntegrationSerializer, responses={201: IntegrationCreatedSerializer})
    def create(self, request):
        data = IntegrationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        integration, secret = services.integration_create(actor=request.user, **data.validated_data)
        body = IntegrationCreatedSerializer(integration).data | {"secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        serializer.instance = services.integration_update(
            integration=serializer.instance, actor=self.request.user, **serializer.validated_data
        )


class GenericAlertView(AuditedAPIMixin, APIView):
    """Plain JSON alerts for scripts, deduplicated by `dedup_key` like any integration."""

    permission_classes = [HasRequiredPermission]
    required_permission = "incidents.add_incident"

    @extend_schema(request=GenericAlertSerializer, responses={202: GenericAlertAcceptedSerializer})
    def post(self, request):
        data = GenericAlertSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        event = parsers.generic_alert_event(data.validated_data, raw=request.data)
        incidents = alerts_ingest(
            integration=services.integration_builtin_api(), events=[event], actor=request.user
        )
        if not incidents:
            return Response({"status": "ok", "incident": None}, status=status.HTTP_202_ACCEPTED)
        body = IncidentSerializer(incidents[0], context={"request": request}).data
        return Response({"status": "ok", "incident": body}, status=status.HTTP_202_ACCEPTED)
