"""What every API view shares: the error shape (docs/ARCHITECTURE.md, "Errors") and the audit
actor."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC

import django_filters
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db.models import QuerySet
from django.http import Http404, JsonResponse
from django.utils.functional import cached_property
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import defaults
from django_fsm import ConcurrentTransition
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, pagination, parsers, permissions, serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.schemas.inspectors import ViewInspector

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


class UTCDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 instant, as UTC. Python takes offsets up to ±23:59 that PostgreSQL refuses
    (beyond ±15:59), and an offset can carry year 1 or 9999 beyond what a datetime holds: left
    to the database, either was a 500."""

    default_error_messages = {"overflow": gettext_lazy("The date and time is out of range.")}

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise DjangoValidationError(self.error_messages["overflow"], code="overflow") from None


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    """A date filter for query strings: a value the database cannot compare is a 400 naming
    the parameter."""

    field_class = UTCDateTimeField


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer, as `exception_handler` writes it."""

    error = serializers.CharField(help_text=gettext_lazy("A code: invalid, not_found, …"))
    detail = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text=gettext_lazy("What is wrong with each field or parameter, by name."),
    )
    # 409: the state the incident is in, what can be done now, what `close` still needs.
    state = serializers.CharField(required=False)
    allowed_actions = serializers.ListField(child=serializers.CharField(), required=False)
    missing = serializers.ListField(child=serializers.CharField(), required=False)
    # 429: seconds to wait.
    retry_after = serializers.IntegerField(required=False)


# How an error is documented in the OpenAPI schema. `config.schema.AutoSchema` adds the ones
# every operation can answer (those of ERRORS among them), so a view names only the errors
# particular to it (409).
ERROR = OpenApiResponse(ErrorSerializer, description=gettext_lazy("Error: {error, detail, fields}"))
ERRORS = {400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR}


class ViewSchema(ViewInspector):
    """A fresh `config.schema.AutoSchema` for each view, as DRF's default schema gives one of
    its DEFAULT_SCHEMA_CLASS: named by path, because drf-spectacular's schema module imports
    DRF's views, whose import reads this module."""

    def __get__(self, instance, owner):
        found = super().__get__(instance, owner)
        if found is not self:
            return found
        inspector = import_string("config.schema.AutoSchema")()
        inspector.view = instance
        return inspector


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


def _messages(detail, where: str = "") -> list[str]:
    """Every message under one field's errors, each prefixed with where inside the field it
    applies (`0.teams: …` for a policy's first level): `fields` stays a name → messages map
    however deep the serializer nests."""
    if isinstance(detail, dict):
        parts = detail.items()
    elif isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        parts = enumerate(detail)
    else:
        messages = detail if isinstance(detail, list) else [detail]
        return [f"{where}: {message}" if where else str(message) for message in messages]
    return [
        message
        for key, value in parts
        for message in _messages(value, f"{where}.{key}" if where else str(key))
    ]


def _fields(detail) -> dict:
    if isinstance(detail, dict):
        return {key: _messages(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return {"non_field_errors": _messages(detail)}
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

    # Imported here: DRF's views module reads DEFAULT_PARSER_CLASSES, which names this module,
    # as it loads; from the top, whichever of the two came first broke the other.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    _answer_in_json(context.get("request"))
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


def _answer_in_json(request) -> None:
    """An error is JSON and says so, even from a view that answers in another format
    (the postmortem's Markdown) or when no format the client accepts was found (406); the
    browsable API keeps its page."""
    renderer = getattr(request, "accepted_renderer", None)
    if request is not None and getattr(renderer, "format", None) not in ("json", "api"):
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type


def json_400(request, exception=None):
    """What Django refuses before a view runs (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, too many
    form fields, a bad Host): API clients get the JSON error shape; people get the page."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("bad_request", _("Bad request.")), status=400)
    return defaults.bad_request(request, exception)


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
    """What every API view shares: audit-log entries attributed to the token's user (known
    only after DRF authenticates), and its errors documented in the schema."""

    schema = ViewSchema()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        audit_actor_set(request.user)


class CappedCountPaginator(Paginator):
    """Django's paginator with a count that stops at `count_limit` (`API_COUNT_LIMIT`): on a long
    history an exact count reads every matching row on every page, the largest part of the
    list's time. Past the limit, `count` is the limit, `count_capped` is true, and pages go on
    by number (`has_next` reads one row more) without the total."""

    @property
    def count_limit(self) -> int:
        return settings.API_COUNT_LIMIT

    @cached_property
    def _counted(self) -> int:
        rows = self.object_list
        if hasattr(rows, "count") and callable(rows.count) and hasattr(rows, "query"):
            return rows.order_by()[: self.count_limit + 1].count()
        return len(rows)

    @property
    def count_capped(self) -> bool:
        return self._counted > self.count_limit

    @cached_property
    def count(self) -> int:
        return min(self._counted, self.count_limit)

    def validate_number(self, number):
        if not self.count_capped:
            return super().validate_number(number)
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(_("That page number is not an integer")) from None
        if number < 1:
            raise EmptyPage(_("That page number is less than 1"))
        return number

    def page(self, number):
        number = self.validate_number(number)
        if not self.count_capped:
            return super().page(number)
        bottom = (number - 1) * self.per_page
        rows = self._rows(bottom, bottom + self.per_page + 1)
        if not rows:
            raise EmptyPage(_("That page contains no results"))
        return CappedPage(rows[: self.per_page], number, self, more=len(rows) > self.per_page)

    def _rows(self, bottom: int, top: int) -> list:
        """A page past the limit by its keys first: the database skips the rows before it in
        the ordering's index alone, rather than reading each of them whole."""
        rows = self.object_list
        if bottom < self.count_limit or not isinstance(rows, QuerySet):
            return list(rows[bottom:top])
        keys = list(rows.values_list("pk", flat=True)[bottom:top])
        found = {row.pk: row for row in rows.filter(pk__in=keys)}
        return [found[key] for key in keys if key in found]


class CappedPage(Page):
    """A page past the count limit: whether another follows is known from the row after it."""

    def __init__(self, object_list, number, paginator, *, more: bool):
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self) -> bool:
        return self.more

    def end_index(self) -> int:
        return self.start_index() + len(self.object_list) - 1


class PageOrCursorPagination(pagination.PageNumberPagination):
    """Pages by number (`?page=`, with `count`) as every list does; with `?cursor=` (empty for
    the first page) a list that names `cursor_orderings` pages by key instead: no count, and
    no rows skipped by an offset, so a page deep in a long history costs what the first does
    and a walk sees every row once while new ones arrive. `next` / `previous` carry the
    cursor on."""

    cursor_query_param = "cursor"
    django_paginator_class = CappedCountPaginator

    def _cursor_mode(self, request, view) -> bool:
        return (
            self.cursor_query_param in request.query_params
            and getattr(view, "action", "list") == "list"
            and bool(getattr(view, "cursor_orderings", None))
        )

    def paginate_queryset(self, queryset, request, view=None):
        self.cursor = None
        if not self._cursor_mode(request, view):
            return super().paginate_queryset(queryset, request, view)
        orderings = view.cursor_orderings
        asked = request.query_params.get("ordering", "").strip()
        if asked and asked not in orderings:
            raise exceptions.ValidationError(
                {
                    "ordering": [
                        _("With cursor, ordering is one of: %(allowed)s.")
                        % {"allowed": ", ".join(orderings)}
                    ]
                }
            )
        self.cursor = pagination.CursorPagination()
        self.cursor.page_size = self.get_page_size(request)
        self.cursor.ordering = orderings[asked or next(iter(orderings))]
        self.cursor.get_ordering = lambda *args: self.cursor.ordering
        try:
            return self.cursor.paginate_queryset(queryset, request, view)
        except exceptions.NotFound as err:
            raise exceptions.ValidationError({self.cursor_query_param: [err.detail]}) from err

    def get_paginated_response(self, data):
        if self.cursor is not None:
            return self.cursor.get_paginated_response(data)
        return Response(
            {
                "count": self.page.paginator.count,
                "count_capped": self.page.paginator.count_capped,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        answer = super().get_paginated_response_schema(schema)
        answer["required"] = ["results"]
        answer["properties"]["count"]["description"] = _(
            "How many match, up to %(limit)d (then `count_capped` is true). Absent when paging "
            "by cursor."
        ) % {"limit": settings.API_COUNT_LIMIT}
        answer["properties"] = {
            "count": answer["properties"]["count"],
            "count_capped": {
                "type": "boolean",
                "description": _(
                    "More match than `count` says: the count stopped at its limit. Absent "
                    "when paging by cursor."
                ),
            },
            **{k: v for k, v in answer["properties"].items() if k != "count"},
        }
        return answer

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        if getattr(view, "cursor_orderings", None) and getattr(view, "action", "list") == "list":
            parameters.append(
                {
                    "name": self.cursor_query_param,
                    "required": False,
                    "in": "query",
                    "description": _(
                        "Page by key instead of number: empty for the first page, then the "
                        "value in `next`. Ordering: %(allowed)s."
                    )
                    % {"allowed": ", ".join(view.cursor_orderings)},
                    "schema": {"type": "string"},
                }
            )
        return parameters
