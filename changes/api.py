"""REST API for changes: a deploy pipeline records a change as it starts and finishes it;
thin translation between HTTP and `changes.services`."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from config.api import ERROR, AuditedAPIMixin
from incidents.selectors import incident_by_key

from . import selectors, services
from .filters import ChangeFilter
from .models import Origin
from .serializers import (
    ChangeCreateSerializer,
    ChangeFinishSerializer,
    ChangeIncidentsSerializer,
    ChangeSerializer,
)

NEEDS = {
    "create": services.ADD_PERMISSION,
    "finish": services.FINISH_PERMISSION,
    "incidents": services.CHANGE_PERMISSION,
}


class CanUseChanges(permissions.BasePermission):
    """Reading needs the view permission; a pipeline records and finishes changes without
    reading the others. Every write is checked again by its service."""

    def has_permission(self, request, view):
        if not request.user.is_authenticated:
            return False
        return request.user.has_perm(NEEDS.get(view.action, "changes.view_change"))


def _incidents(keys: list[str], field: str) -> list:
    found, unknown = [], []
    for key in keys:
        incident = incident_by_key(key)
        (found if incident else unknown).append(incident or key)
    if unknown:
        raise ValidationError({field: [_("No incident %(key)s.") % {"key": k} for k in unknown]})
    return found


class ChangeViewSet(
    AuditedAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """変更管理: releases, emergency deploys, rollbacks, migrations and configuration changes."""

    serializer_class = ChangeSerializer
    permission_classes = [CanUseChanges]
    filterset_class = ChangeFilter
    ordering_fields = ["started_at", "id"]
    lookup_field = "key"
    lookup_value_regex = "[^/]+"
    queryset = selectors.changes_all()

    def get_object(self):
        change = selectors.change_by_key(self.kwargs["key"])
        if change is None:
            raise NotFound(_("No change %(key)s.") % {"key": self.kwargs["key"]})
        return change

    def _answer(self, change, code=status.HTTP_200_OK):
        return Response(ChangeSerializer(selectors.change_by_key(change.key)).data, status=code)

    @extend_schema(
        request=ChangeCreateSerializer,
        responses={201: ChangeSerializer},
        description=_(
            "Record a change as it starts, with a run of its runbook checklist; finish it with "
            "`/finish/` or by completing the run. With `result` (and `finished_at`), a change "
            "reported when it is over: finished at once, with no checklist."
        ),
    )
    def create(self, request):
        data = ChangeCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "finished_at" in values and "result" not in values:
            raise ValidationError({"result": [_("A finished change needs its result.")]})
        if reverts := values.pop("reverts", None):
            values["reverts"] = selectors.change_by_key(reverts)
            if values["reverts"] is None:
                raise ValidationError({"reverts": [_("No change %(key)s.") % {"key": reverts}]})
        for field in ("caused_incidents", "fixed_incidents"):
            if field in values:
                values[field] = _incidents(values[field], field)
        values["links"] = [dict(link) for link in values.get("links", [])]
        if "result" in values:
            change = services.change_record(actor=request.user, origin=Origin.API, **values)
        else:
            change = services.change_start(actor=request.user, origin=Origin.API, **values)
        return self._answer(change, status.HTTP_201_CREATED)

    @extend_schema(
        request=ChangeFinishSerializer,
        responses={200: ChangeSerializer, 409: ERROR},
        description=_("The change is over: its result, and when (now if not given)."),
    )
    @action(detail=True, methods=["post"])
    def finish(self, request, key=None):
        change = self.get_object()
        data = ChangeFinishSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        change = services.change_finish(change=change, actor=request.user, **data.validated_data)
        return self._answer(change)

    @extend_schema(
        request=ChangeIncidentsSerializer,
        responses={200: ChangeSerializer},
        description=_("Link incidents this change caused or fixed (`add`), or unlink them."),
    )
    @action(detail=True, methods=["post"])
    def incidents(self, request, key=None):
        change = self.get_object()
        data = ChangeIncidentsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        change = services.change_link_incidents(
            change=change,
            actor=request.user,
            relation=values["relation"],
            add=_incidents(values.get("add", []), "add"),
            remove=_incidents(values.get("remove", []), "remove"),
        )
        return self._answer(change)
