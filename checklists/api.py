"""REST API for checklists: thin translation between HTTP and `checklists.services`."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from config.api import ERROR, AuditedAPIMixin, HasRequiredPermission, ViewModelPermissions
from incidents.selectors import incident_by_key

from . import selectors, services
from .filters import ChecklistRunFilter
from .models import ChecklistRun, ChecklistTemplate, KnownProblem, RunItem
from .serializers import (
    ChecklistRunSerializer,
    ChecklistTemplateSerializer,
    KnownProblemSerializer,
    RunItemSerializer,
    SkipSerializer,
    TickSerializer,
)

KEY = OpenApiParameter(
    "key", str, OpenApiParameter.PATH, description=_("Incident key, e.g. INC-42")
)


class ChecklistRunViewSet(
    AuditedAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Checklist runs: `?kind=daily&due=today&overdue=true`."""

    serializer_class = ChecklistRunSerializer
    permission_classes = [HasRequiredPermission]
    required_permission = "checklists.view_checklistrun"
    filterset_class = ChecklistRunFilter
    ordering_fields = ["due_at", "created_at", "id"]
    queryset = selectors.runs_with_items()


class ChecklistTemplateViewSet(
    AuditedAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Checklist templates with their items: read by responders, written by managers. Items
    sent replace the template's, in the order sent; runs already made keep their copies."""

    serializer_class = ChecklistTemplateSerializer
    permission_classes = [ViewModelPermissions]
    queryset = ChecklistTemplate.objects.prefetch_related("items").order_by("kind", "key")
    http_method_names = ["get", "post", "patch", "head", "options"]

    @extend_schema(
        request=ChecklistTemplateSerializer, responses={201: ChecklistTemplateSerializer}
    )
    def create(self, request):
        data = ChecklistTemplateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        template = services.template_create(actor=request.user, **data.service_fields())
        return Response(ChecklistTemplateSerializer(template).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        serializer.instance = services.template_update(
            template=serializer.instance, actor=self.request.user, **serializer.service_fields()
        )


class RunItemViewSet(AuditedAPIMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Tick (`done`), untick (`undo`) or `skip` (with a reason) one item of a run."""

    serializer_class = RunItemSerializer
    permission_classes = [HasRequiredPermission]
    required_permission = "checklists.view_runitem"
    queryset = RunItem.objects.select_related("by", "run")

    @extend_schema(request=TickSerializer, responses={200: RunItemSerializer, 409: ERROR})
    @action(detail=True, methods=["post"])
    def done(self, request, pk=None):
        data = TickSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.run_item_tick(
            item=self.get_object(), actor=request.user, note=data.validated_data["note"]
        )
        return Response(RunItemSerializer(item).data)

    @extend_schema(request=None, responses={200: RunItemSerializer, 409: ERROR})
    @action(detail=True, methods=["post"])
    def undo(self, request, pk=None):
        item = services.run_item_undo(item=self.get_object(), actor=request.user)
        return Response(RunItemSerializer(item).data)

    @extend_schema(request=SkipSerializer, responses={200: RunItemSerializer, 409: ERROR})
    @action(detail=True, methods=["post"])
    def skip(self, request, pk=None):
        data = SkipSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.run_item_skip(
            item=self.get_object(), actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(RunItemSerializer(item).data)


class _IncidentScoped(AuditedAPIMixin, generics.GenericAPIView):
    permission_classes = [HasRequiredPermission]
    pagination_class = None

    def get_incident(self):
        incident = incident_by_key(self.kwargs["key"])
        if incident is None or not self.request.user.has_perm("incidents.view_incident"):
            raise NotFound(_("No incident %(key)s.") % {"key": self.kwargs["key"]})
        return incident


class IncidentChecklistsView(_IncidentScoped):
    """The checklist runs attached to an incident, with their items."""

    serializer_class = ChecklistRunSerializer
    queryset = ChecklistRun.objects.none()
    required_permission = "checklists.view_checklistrun"

    @extend_schema(parameters=[KEY], responses={200: ChecklistRunSerializer(many=True)})
    def get(self, request, key):
        runs = selectors.incident_runs(self.get_incident())
        return Response(self.get_serializer(runs, many=True).data)


class IncidentKnownProblemsView(_IncidentScoped):
    """Known problems matching the incident's title and summary, best first."""

    serializer_class = KnownProblemSerializer
    queryset = KnownProblem.objects.none()
    required_permission = "checklists.view_knownproblem"

    @extend_schema(parameters=[KEY], responses={200: KnownProblemSerializer(many=True)})
    def get(self, request, key):
        problems = selectors.known_problems_for(self.get_incident())
        return Response(self.get_serializer(problems, many=True).data)
