"""REST API for incidents: thin translation between HTTP and `incidents.services`."""

from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.filters import OrderingFilter
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from alerts.selectors import incident_alerts
from alerts.serializers import AlertSerializer
from config.api import ERROR, AuditedAPIMixin, PageOrCursorPagination
from escalation.serializers import EscalateSerializer
from escalation.services.timers import incident_escalate

from . import postmortems, selectors, services
from .filters import IncidentFilter
from .models import Action, Incident
from .serializers import (
    ActionItemSerializer,
    IncidentCreateSerializer,
    IncidentDetailSerializer,
    IncidentSerializer,
    IncidentUpdateSerializer,
    NoteSerializer,
    PostmortemSerializer,
    PostmortemUpdateSerializer,
    TimelineEventSerializer,
    TransitionSerializer,
)


class MarkdownRenderer(BaseRenderer):
    media_type = "text/markdown"
    format = "md"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        # Only ever the report: its edit and every error answer in JSON.
        return data.encode(self.charset)


class CanViewIncidents(permissions.BasePermission):
    """Reading needs the view permission; every write is checked again by its service."""

    def has_permission(self, request, view):
        if not request.user.is_authenticated:
            return False
        if view.action == "create":
            # Integrations declare incidents without being able to read the others.
            return request.user.has_perm("incidents.add_incident")
        return request.user.has_perm("incidents.view_incident")


class IncidentViewSet(
    AuditedAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = IncidentSerializer
    permission_classes = [CanViewIncidents]
    # Ordered first: search (`q`) takes its first matches in the list's order.
    filter_backends = [OrderingFilter, DjangoFilterBackend]
    filterset_class = IncidentFilter
    ordering_fields = ["detected_at", "severity", "state", "id"]
    pagination_class = PageOrCursorPagination
    # `?cursor=`: newest first (the default) or oldest first; ties in time go by key.
    cursor_orderings = {
        "-detected_at": ("-detected_at", "-id"),
        "detected_at": ("detected_at", "id"),
    }
    lookup_field = "key"
    lookup_value_regex = "[^/]+"
    queryset = Incident.objects.select_related("commander", "created_by", "policy")

    def get_object(self) -> Incident:
        incident = selectors.incident_by_key(self.kwargs["key"])
        if incident is None:
            raise NotFound(_("No incident %(key)s.") % {"key": self.kwargs["key"]})
        return incident

    def get_serializer_class(self):
        return IncidentSerializer if self.action == "list" else IncidentDetailSerializer

    def get_renderers(self):
        # The report is read as Markdown; its edit answers with the fields it changed, in JSON.
        if self.action == "postmortem_update":
            return [JSONRenderer()]
        return super().get_renderers()

    def _answer(self, incident, code=status.HTTP_200_OK):
        incident = selectors.incident_by_key(incident.key)
        return Response(self.get_serializer(incident).data, status=code)

    @extend_schema(
        request=IncidentCreateSerializer,
        responses={201: IncidentDetailSerializer, 200: IncidentDetailSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description=_("A retry with the same key returns the same incident (200)."),
            )
        ],
    )
    def create(self, request):
        data = IncidentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key", "").strip()
        if key:
            incident, created = services.incident_declare_once(
                actor=request.user, idempotency_key=key[:255], **data.validated_data
            )
        else:
            incident, created = (
                services.incident_declare(actor=request.user, **data.validated_data),
                True,
            )
        return self._answer(incident, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=IncidentUpdateSerializer, responses={200: IncidentDetailSerializer})
    def partial_update(self, request, key=None):
        incident = self.get_object()
        data = IncidentUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.incident_update(
            incident=incident, actor=request.user, **data.validated_data
        )
        return self._answer(incident)

    @extend_schema(
        request=TransitionSerializer,
        responses={200: IncidentDetailSerializer, 409: ERROR},
        operation_id="incidents_transition",
        parameters=[OpenApiParameter("action", str, OpenApiParameter.PATH, enum=Action.values)],
        description=_(
            "Apply a lifecycle action. `dismiss` needs `reason`; `close` needs root cause and "
            "resolution. 409 lists the actions allowed now."
        ),
    )
    @action(detail=True, methods=["post"], url_path=f"(?P<action>{'|'.join(Action.values)})")
    def transition(self, request, key=None, action=None):
        incident = self.get_object()
        data = TransitionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.incident_transition(
            incident=incident, action=action, actor=request.user, **data.validated_data
        )
        return self._answer(incident)

    @extend_schema(
        request=EscalateSerializer,
        responses={200: IncidentDetailSerializer, 409: ERROR},
        description=_("Move to the next escalation level now (with a reason)."),
    )
    @action(detail=True, methods=["post"])
    def escalate(self, request, key=None):
        incident = self.get_object()
        data = EscalateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident_escalate(
            incident=incident, actor=request.user, reason=data.validated_data["reason"]
        )
        return self._answer(incident)

    @extend_schema(responses={200: TimelineEventSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def timeline(self, request, key=None):
        incident = self.get_object()
        events = selectors.incident_timeline(incident)
        page = self.paginate_queryset(events)
        serializer = TimelineEventSerializer(page, many=True)
        return self.get_paginated_response(serializer.data)

    @extend_schema(responses={200: AlertSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def alerts(self, request, key=None):
        incident = self.get_object()
        page = self.paginate_queryset(incident_alerts(incident))
        return self.get_paginated_response(AlertSerializer(page, many=True).data)

    @extend_schema(request=NoteSerializer, responses={201: TimelineEventSerializer})
    @action(detail=True, methods=["post"])
    def notes(self, request, key=None):
        incident = self.get_object()
        data = NoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        event = services.incident_add_note(
            incident=incident, actor=request.user, message=data.validated_data["message"]
        )
        return Response(TimelineEventSerializer(event).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={
            (200, "text/markdown"): OpenApiTypes.STR,
            (200, "application/json"): PostmortemSerializer,
        },
        description=_("The report as Markdown; with `Accept: application/json`, its fields."),
    )
    @action(detail=True, methods=["get"], renderer_classes=[MarkdownRenderer, JSONRenderer])
    def postmortem(self, request, key=None):
        incident = self.get_object()
        if request.accepted_renderer.format == "json":
            draft = postmortems.postmortem_draft(incident=incident)
            return Response(PostmortemSerializer(draft).data)
        return Response(
            postmortems.report_render(incident=incident, language=request.LANGUAGE_CODE)
        )

    @extend_schema(request=PostmortemUpdateSerializer, responses={200: PostmortemSerializer})
    @postmortem.mapping.patch
    def postmortem_update(self, request, key=None):
        incident = self.get_object()
        data = PostmortemUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        draft = services.postmortem_update(
            incident=incident, actor=request.user, **data.validated_data
        )
        return Response(PostmortemSerializer(draft).data)

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"], url_path="postmortem/generate")
    def postmortem_generate(self, request, key=None):
        incident = self.get_object()
        path = services.report_generate(incident=incident, actor=request.user)
        return Response({"path": path.name, "key": incident.key})

    @extend_schema(request=ActionItemSerializer, responses={201: ActionItemSerializer})
    @action(detail=True, methods=["post"], url_path="action-items")
    def action_items(self, request, key=None):
        incident = self.get_object()
        data = ActionItemSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.action_item_add(
            incident=incident, actor=request.user, **data.validated_data
        )
        return Response(ActionItemSerializer(item).data, status=status.HTTP_201_CREATED)
