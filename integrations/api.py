import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import AuditedAPIMixin, ViewModelPermissions
from incidents.serializers import IncidentSerializer
from incidents.services import AlertEvent

from . import services
from .models import Integration
from .serializers import GenericAlertSerializer, IntegrationCreatedSerializer, IntegrationSerializer


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


class CanDeclare(permissions.BasePermission):
    def has_permission(self, request, view):
        return request.user.is_authenticated and request.user.has_perm("incidents.add_incident")


class GenericAlertView(AuditedAPIMixin, APIView):
    """Plain JSON alerts for scripts, deduplicated by `dedup_key` like any integration."""

    permission_classes = [CanDeclare]

    @extend_schema(request=GenericAlertSerializer, responses={202: IncidentSerializer})
    def post(self, request):
        data = GenericAlertSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alert = data.validated_data
        key = alert.get("dedup_key") or uuid.uuid4().hex
        event = AlertEvent(
            key=key,
            fingerprint=key,
            firing=alert["status"] == "firing",
            title=alert["title"],
            severity=alert["severity"],
            source=alert.get("source", ""),
            service=alert.get("service", ""),
            annotations={str(k): str(v) for k, v in alert.get("details", {}).items()},
            raw=request.data,
        )
        incidents = services.alerts_ingest(
            integration=services.integration_builtin_api(), events=[event], actor=request.user
        )
        if not incidents:
            return Response({"status": "ok", "incident": None}, status=status.HTTP_202_ACCEPTED)
        body = IncidentSerializer(incidents[0], context={"request": request}).data
        return Response({"status": "ok", "incident": body}, status=status.HTTP_202_ACCEPTED)
