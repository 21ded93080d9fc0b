"""The OpenAPI schema's shared part: the errors each operation can answer, documented with the
body every error has (`config.api.ErrorSerializer`)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from drf_spectacular import openapi

from .api import ErrorSerializer

ERROR_MEANINGS = {
    400: gettext_lazy("Invalid input: `fields` names what is wrong with each field or parameter."),
    401: gettext_lazy("No valid token."),
    403: gettext_lazy("The token's user may not do this."),
    404: gettext_lazy("No such object, or no such page."),
    429: gettext_lazy("Too many requests: `retry_after` says how many seconds to wait."),
}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, with the errors each operation can answer: every answer the
    API gives is one the schema documents (`tests/test_api_fuzz.py` holds it to that)."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        error = {"schema": self.resolve_serializer(ErrorSerializer, "response").ref}
        for code in self._error_codes(operation):
            operation["responses"].setdefault(
                str(code),
                {
                    "content": {"application/json": error},
                    "description": ERROR_MEANINGS[code],
                },
            )
        return operation

    def _error_codes(self, operation) -> list[int]:
        where = {parameter["in"] for parameter in operation.get("parameters", [])}
        codes = []
        if "requestBody" in operation or where & {"query", "header"}:
            codes.append(400)
        if operation.get("security"):
            codes += [401, 403]
        # A path names an object that may not exist; a page number, a page that may not.
        if "path" in where or self._is_list_view() and self._get_paginator():
            codes.append(404)
        if self.view.get_throttles():
            codes.append(429)
        return codes
