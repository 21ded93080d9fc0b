from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HeartbeatsConfig(AppConfig):
    name = "heartbeats"
    verbose_name = _("Heartbeats")
