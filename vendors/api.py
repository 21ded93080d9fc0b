"""REST API for vendors: thin translation between HTTP and `vendors.services`."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from config.api import ERROR, AuditedAPIMixin, HasRequiredPermission
from incidents.selectors import incident_by_key

from . import selectors, services
from .models import Vendor, VendorTicket
from .serializers import (
    VendorSerializer,
    VendorTicketCloseSerializer,
    VendorTicketOpenSerializer,
    VendorTicketSerializer,
)

KEY = OpenApiParameter(
    "key", str, OpenApiParameter.PATH, description=_("Incident key, e.g. INC-42")
)
TICKET = OpenApiParameter("ticket", int, OpenApiParameter.PATH, description=_("Ticket id"))


class VendorViewSet(
    AuditedAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The vendors to contact (外部ベンダー連絡先), by key."""

    serializer_class = VendorSerializer
    permission_classes = [HasRequiredPermission]
    required_permission = "vendors.view_vendor"
    lookup_field = "key"
    queryset = Vendor.objects.order_by("name", "pk")


class _IncidentTickets(AuditedAPIMixin, generics.GenericAPIView):
    permission_classes = [HasRequiredPermission]
    required_permission = "vendors.view_vendorticket"
    serializer_class = VendorTicketSerializer
    queryset = VendorTicket.objects.none()
    pagination_class = None

    def get_incident(self):
        incident = incident_by_key(self.kwargs["key"])
        if incident is None or not self.request.user.has_perm("incidents.view_incident"):
            raise NotFound(_("No incident %(key)s.") % {"key": self.kwargs["key"]})
        return incident


class IncidentVendorTicketsView(_IncidentTickets):
    """The tickets opened with vendors about an incident; POST records one."""

    @extend_schema(parameters=[KEY], responses={200: VendorTicketSerializer(many=True)})
    def get(self, request, key):
        tickets = selectors.incident_vendor_tickets(self.get_incident())
        return Response(self.get_serializer(tickets, many=True).data)

    @extend_schema(
        parameters=[KEY],
        request=VendorTicketOpenSerializer,
        responses={201: VendorTicketSerializer},
    )
    def post(self, request, key):
        incident = self.get_incident()
        data = VendorTicketOpenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = services.vendor_ticket_open(
            incident=incident, actor=request.user, **data.validated_data
        )
        return Response(self.get_serializer(ticket).data, status=status.HTTP_201_CREATED)


class IncidentVendorTicketCloseView(_IncidentTickets):
    """Close a ticket: the vendor answered, or it is no longer needed (409 if closed)."""

    @extend_schema(
        parameters=[KEY, TICKET],
        request=VendorTicketCloseSerializer,
        responses={200: VendorTicketSerializer, 409: ERROR},
    )
    def post(self, request, key, ticket):
        found = selectors.incident_vendor_tickets(self.get_incident()).filter(pk=ticket).first()
        if found is None:
            raise NotFound(_("No such vendor ticket on this incident."))
        data = VendorTicketCloseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        closed = services.vendor_ticket_close(
            ticket=found, actor=request.user, note=data.validated_data["note"]
        )
        return Response(self.get_serializer(closed).data)
