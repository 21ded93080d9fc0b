"""REST API for maintenance windows: thin translation between HTTP and
`maintenance.services`. Opening one needs `maintenance.add_maintenancewindow` (sysadmins and
managers), closing one `maintenance.change_maintenancewindow`; reading, the view permission."""

from django.db.models import Count, Q
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api import AuditedAPIMixin, ViewModelPermissions

from . import selectors, services
from .models import MaintenanceWindow
from .serializers import HeldAlertSerializer, MaintenanceWindowSerializer, WindowOpenSerializer


class MaintenanceWindowViewSet(
    AuditedAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Maintenance windows, latest first: while one is in force, the alerts it covers are held
    (no incident, no page; P0 still pages unless `pages_p0` is false)."""

    serializer_class = MaintenanceWindowSerializer
    permission_classes = [ViewModelPermissions]
    ordering_fields = ["starts_at", "ends_at", "id"]
    queryset = (
        MaintenanceWindow.objects.select_related("opened_by", "closed_by")
        .annotate(held=Count("held_alerts", filter=Q(held_alerts__released_at__isnull=True)))
        .order_by("-starts_at", "-pk")
    )

    @extend_schema(request=WindowOpenSerializer, responses={201: MaintenanceWindowSerializer})
    def create(self, request):
        data = WindowOpenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        window = services.open_window(opened_by=request.user, **data.validated_data)
        return Response(self.get_serializer(window).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: MaintenanceWindowSerializer})
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """End the window now; its alerts still firing open their incidents."""
        window = services.close_window(window=self.get_object(), actor=request.user)
        return Response(self.get_serializer(window).data)

    @extend_schema(responses={200: HeldAlertSerializer(many=True)})
    @action(
        detail=True,
        methods=["get"],
        serializer_class=HeldAlertSerializer,
        pagination_class=None,
        filter_backends=[],
    )
    def held(self, request, pk=None):
        """The alerts the window held, and the incident each opened when it ended."""
        held = selectors.window_held_alerts(self.get_object())
        return Response(HeldAlertSerializer(held, many=True).data)
