"""REST API for schedules: who is on call, the shifts of a period, overrides. Reading needs
`oncall.view_schedule`; an override `oncall.add_override` (responders and managers), checked
again by `oncall.services`. Every answer comes from `oncall.resolver`."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api import AuditedAPIMixin, ViewModelPermissions

from . import resolver, selectors, services
from .models import Schedule
from .serializers import (
    OnCallQuerySerializer,
    OnCallSerializer,
    OverrideCreateSerializer,
    OverrideSerializer,
    ScheduleSerializer,
    ShiftSerializer,
    ShiftsQuerySerializer,
)


class SchedulePermissions(ViewModelPermissions):
    """Reading a schedule (its on-call, its shifts) is viewing it; adding an override is
    `add_override`, not changing the schedule."""

    def has_permission(self, request, view):
        if getattr(view, "action", None) == "overrides":
            return request.user.is_authenticated and request.user.has_perm(
                services.OVERRIDE_PERMISSION
            )
        return super().has_permission(request, view)


class ScheduleViewSet(
    AuditedAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """On-call schedules: layers of rotations, and the overrides on top of them."""

    serializer_class = ScheduleSerializer
    permission_classes = [SchedulePermissions]
    queryset = Schedule.objects.prefetch_related("layers__members__user").order_by("name")

    @extend_schema(
        parameters=[OpenApiParameter("at", OpenApiTypes.DATETIME, description=_("Default: now."))],
        responses={200: OnCallSerializer},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def oncall(self, request, pk=None):
        """Who is on call at `at` (now): the person escalation would page."""
        schedule = self.get_object()
        query = OnCallQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        at = query.validated_data.get("at") or timezone.now()
        holder = resolver.oncall_at(schedule, at)
        user = get_user_model().objects.filter(pk=holder.user_id).first()
        return Response(
            OnCallSerializer(
                {
                    "at": at,
                    "user": user.get_username() if user else None,
                    "name": (user.get_full_name() or user.get_username()) if user else None,
                    "email": user.email if user else None,
                    "source": holder.source,
                    "layer": holder.layer,
                    "override": holder.override_id,
                }
            ).data
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATETIME, required=True),
            OpenApiParameter("to", OpenApiTypes.DATETIME, required=True),
        ],
        responses={200: ShiftSerializer(many=True)},
        description=_("The shifts from `from` to `to` (at most 92 days), gaps included."),
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def shifts(self, request, pk=None):
        schedule = self.get_object()
        query = ShiftsQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["from"], query.validated_data["to"]
        if end <= start:
            raise ValidationError({"to": [_("The period must end after it starts.")]})
        if end - start > resolver.MAX_SPAN:
            raise ValidationError({"to": [_("At most 92 days at a time.")]})
        rows = [selectors.shift_row(shift) for shift in resolver.shifts(schedule, start, end)]
        return Response(ShiftSerializer(rows, many=True).data)

    @extend_schema(request=OverrideCreateSerializer, responses={201: OverrideSerializer})
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def overrides(self, request, pk=None):
        """A person takes a period from whoever holds it."""
        schedule = self.get_object()
        data = OverrideCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        override = services.override_create(
            schedule=schedule, actor=request.user, **data.validated_data
        )
        return Response(OverrideSerializer(override).data, status=status.HTTP_201_CREATED)
