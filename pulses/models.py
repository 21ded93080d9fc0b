"""Pulses: Hikeshi's own processes saying they are alive (who watches the watchman).

Each worker, the sweeper, each alert lane and the beat's alert sweep write their pulse
while they work; `/api/health` and `/metrics` read how long ago each beat.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Pulse(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    at = models.DateTimeField(_("last beat"))
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("pulse")
        verbose_name_plural = _("pulses")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} {self.at:%H:%M:%S}"
