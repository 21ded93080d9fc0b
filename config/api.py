"""What every API view shares: the error shape (docs/ARCHITECTURE.md, "Errors") and the audit
actor."""

from __future__ import annotations

import json
import math
import re

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import defaults
from django_fsm import ConcurrentTransition
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, parsers, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .base import ActionNotAllowed, audit_actor_set


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


# Escapes that can make a string PostgreSQL refuses: NUL, and surrogates (a lone one).
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89abcdefABCDEF])")


def _unstorable_text(value) -> str:
    """What is wrong with the first string PostgreSQL cannot store, or ""."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "a string holds a NUL character (\\u0000)"
            try:
                item.encode()
            except UnicodeEncodeError:
                return "a string holds a lone surrogate (\\ud800-\\udfff)"
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return ""


def json_storable(raw: bytes):
    """Parse a request body as JSON that PostgreSQL can store.

    Python's parser takes NaN, Infinity, numbers beyond a double, NUL characters and lone
    surrogates, and the database refuses each of them: left to it, they were a 500. Raises
    ValueError saying what is wrong.
    """
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if _SUSPECT_ESCAPE.search(raw) and (wrong := _unstorable_text(value)):
        raise ValueError(wrong)
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with `json_storable`'s rules."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return json_storable(stream.read())
        except ValueError as error:
            raise exceptions.ParseError(
                _("JSON parse error: %(error)s") % {"error": error}
            ) from error


# How every error is documented in the OpenAPI schema.
ERROR = OpenApiResponse(OpenApiTypes.OBJECT, description=_("Error: {error, detail, fields}"))
ERRORS = {400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR}


class HasRequiredPermission(permissions.BasePermission):
    """The view's `required_permission`, for views that are not about one model's rows;
    writes are checked again by the services."""

    def has_permission(self, request, view):
        return request.user.is_authenticated and request.user.has_perm(view.required_permission)


class ViewModelPermissions(permissions.DjangoModelPermissions):
    """Django's model permissions, with reading needing `view_*` too (configuration data)."""

    perms_map = permissions.DjangoModelPermissions.perms_map | {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


class RejectUnknownFields:
    """Serializer mixin: a field the serializer does not know is a 400, not silently dropped,
    so a typo (`onwer`) never looks like a successful change."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise exceptions.ValidationError(
                    {name: [_("Unknown field.")] for name in sorted(unknown)}
                )
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A JSON string and nothing else: 42 or true is a client bug, not a title."""

    default_error_messages = {"invalid": gettext_lazy("Must be a string.")}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class UsernameField(serializers.SlugRelatedField):
    """An active user, by username."""

    def __init__(self, **kwargs):
        user = get_user_model()
        super().__init__(
            slug_field=user.USERNAME_FIELD, queryset=user.objects.filter(is_active=True), **kwargs
        )


class StrictInputSerializer(RejectUnknownFields, serializers.Serializer):
    """Input only: every field is writable, so a read-only one sent in is unknown too."""


def error_body(code: str, detail: str, fields: dict | None = None, **extra) -> dict:
    return {"error": code, "detail": str(detail), "fields": fields or {}, **extra}


def _fields(detail) -> dict:
    if isinstance(detail, dict):
        return {
            key: [str(m) for m in value]
            if isinstance(value, list)
            else _fields(value)
            if isinstance(value, dict)
            else [str(value)]
            for key, value in detail.items()
        }
    if isinstance(detail, list):
        return {"non_field_errors": [str(m) for m in detail]}
    return {}


def exception_handler(exc, context):
    """Every error as `{"error", "detail", "fields"}`; nothing a client sends becomes a 500."""
    if isinstance(exc, ActionNotAllowed):
        state = {"state": exc.state} if exc.state else {}
        return Response(
            error_body(
                "missing_requirements" if exc.missing else "transition_not_allowed",
                str(exc),
                {name: [_("This is required first.")] for name in exc.missing},
                **state,
                allowed_actions=exc.allowed,
                missing=exc.missing,
            ),
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, ConcurrentTransition):
        return Response(
            error_body("concurrent_transition", _("Someone else changed this incident first.")),
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        exc = exceptions.ParseError(exc.detail)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        body = error_body("invalid", _("The request has invalid fields."), _fields(exc.detail))
    else:
        codes = exc.get_codes() if hasattr(exc, "get_codes") else "error"
        code = codes if isinstance(codes, str) else "error"
        body = error_body(code, exc.detail if hasattr(exc, "detail") else str(exc))
        if isinstance(exc, exceptions.Throttled) and exc.wait:
            body["retry_after"] = int(exc.wait)
    response.data = body
    return response


def json_404(request, exception=None):
    """API clients get the JSON error shape for unknown URLs too; people get the page."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", _("Not found.")), status=404)
    return defaults.page_not_found(request, exception)


def json_500(request):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("server_error", _("Internal error.")), status=500)
    return defaults.server_error(request)


class AuditedAPIMixin:
    """Attribute audit-log entries to the token's user, known only after DRF authenticates."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        audit_actor_set(request.user)
