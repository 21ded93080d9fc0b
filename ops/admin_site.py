"""The admin says Hikeshi (火消し), links to the board and analytics, and puts the active
incidents first on its index: a manager opening it at 3 a.m. sees what burns."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from . import selectors

INDEX_INCIDENTS = 10


class HikeshiAdminSite(admin.AdminSite):
    site_header = _("Hikeshi 火消し")
    site_title = _("Hikeshi 火消し")
    index_title = _("Incident management")
    index_template = "admin/hikeshi_index.html"

    def index(self, request, extra_context=None):
        extra_context = extra_context or {}
        if request.user.has_perm("incidents.view_incident"):
            extra_context["active_rows"] = selectors.board_rows(limit=INDEX_INCIDENTS)
            extra_context["active_counts"] = selectors.board_counts()
        return super().index(request, extra_context)
