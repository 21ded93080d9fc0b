"""REST API for policies and teams: managers only (the model permissions only they hold);
writes go through `escalation.services.policies`."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api import AuditedAPIMixin, ViewModelPermissions
from incidents.models import Category, Severity

from . import selectors
from .models import EscalationPolicy, Team
from .serializers import (
    PlannedLevelSerializer,
    PolicySerializer,
    SimulateQuerySerializer,
    TeamSerializer,
)
from .services import policies


class EscalationPolicyViewSet(AuditedAPIMixin, viewsets.ModelViewSet):
    serializer_class = PolicySerializer
    permission_classes = [ViewModelPermissions]
    queryset = EscalationPolicy.objects.prefetch_related("levels__teams").order_by("name")

    def perform_create(self, serializer):
        serializer.instance = policies.policy_create(
            actor=self.request.user, levels=serializer.level_specs(), **serializer.policy_fields()
        )

    def perform_update(self, serializer):
        serializer.instance = policies.policy_update(
            policy=serializer.instance,
            actor=self.request.user,
            levels=serializer.level_specs(),
            **serializer.policy_fields(),
        )

    def perform_destroy(self, instance):
        policies.policy_delete(policy=instance, actor=self.request.user)

    @extend_schema(
        parameters=[
            OpenApiParameter("severity", str, enum=Severity.values, required=True),
            OpenApiParameter("category", str, enum=Category.values),
            OpenApiParameter(
                "at", OpenApiTypes.DATETIME, description=_("Moment of detection; default: now.")
            ),
        ],
        responses={200: PlannedLevelSerializer(many=True)},
        description=_(
            "Dry run: when each level would fire for an incident detected now, to whom and "
            "how, if nobody resolves it. Computed by the code that escalates for real."
        ),
    )
    # One policy's plan, answered whole: no page, and the schema must not promise one.
    @action(detail=True, methods=["get"], pagination_class=None)
    def simulate(self, request, pk=None):
        policy = self.get_object()
        query = SimulateQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        fields = dict(query.validated_data)
        detected_at = fields.pop("at", None) or timezone.now()
        plan = selectors.policy_simulate(policy=policy, detected_at=detected_at, **fields)
        return Response(PlannedLevelSerializer(plan, many=True).data)


class TeamViewSet(AuditedAPIMixin, viewsets.ModelViewSet):
    serializer_class = TeamSerializer
    permission_classes = [ViewModelPermissions]
    queryset = Team.objects.prefetch_related("members").order_by("name")

    def perform_create(self, serializer):
        serializer.instance = policies.team_create(
            actor=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = policies.team_update(
            team=serializer.instance, actor=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        policies.team_delete(team=instance, actor=self.request.user)
