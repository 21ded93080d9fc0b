from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _

from . import checks  # noqa: F401 — registers Hikeshi's deployment checks


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = _("Operations")
    default = True


class HikeshiAdminConfig(admin_apps.AdminConfig):
    """Installed in place of django.contrib.admin: the admin site is Hikeshi's own."""

    default = False
    default_site = "ops.admin_site.HikeshiAdminSite"
