"""REST API for heartbeats: read by responders, executives and managers, created and changed
by managers; writes go through `heartbeats.services`."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from config.api import AuditedAPIMixin, ViewModelPermissions

from . import services
from .models import Heartbeat
from .serializers import HeartbeatSerializer


class HeartbeatViewSet(
    AuditedAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Heartbeat.objects.select_related("incident").order_by("name")
    serializer_class = HeartbeatSerializer
    permission_classes = [ViewModelPermissions]
    http_method_names = ["get", "post", "patch", "head", "options"]

    @extend_schema(request=HeartbeatSerializer, responses={201: HeartbeatSerializer})
    def create(self, request):
        data = HeartbeatSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        heartbeat = services.heartbeat_create(actor=request.user, **data.model_fields())
        return Response(HeartbeatSerializer(heartbeat).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        serializer.instance = services.heartbeat_update(
            heartbeat=serializer.instance,
            actor=self.request.user,
            changes=serializer.model_fields(),
        )
