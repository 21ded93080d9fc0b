"""`/api/v1/chat/identities/`: managers link chat accounts to people (and unlink them)."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from config.api import (
    ERRORS,
    AuditedAPIMixin,
    RejectUnknownFields,
    UsernameField,
    ViewModelPermissions,
)

from . import services
from .models import ChatIdentity


class ChatIdentitySerializer(RejectUnknownFields, serializers.ModelSerializer):
    user = UsernameField()

    class Meta:
        model = ChatIdentity
        fields = ["id", "user", "provider", "workspace", "external_id", "created_at"]
        read_only_fields = ["id", "created_at"]
        # Linking an account that acts as someone else moves it: no uniqueness refusal here.
        validators = []


class ChatIdentityViewSet(
    AuditedAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ChatIdentitySerializer
    permission_classes = [ViewModelPermissions]
    queryset = ChatIdentity.objects.select_related("user").order_by("pk")
    filterset_fields = ["provider", "workspace", "user__username"]

    @extend_schema(
        request=ChatIdentitySerializer, responses={201: ChatIdentitySerializer, **ERRORS}
    )
    def create(self, request):
        data = ChatIdentitySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        identity = services.chat_identity_link(actor=request.user, **data.validated_data)
        return Response(ChatIdentitySerializer(identity).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.chat_identity_unlink(identity=instance, actor=self.request.user)
