from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PulsesConfig(AppConfig):
    name = "pulses"
    verbose_name = _("Pulses")
