"""What Hikeshi keeps about a person beyond Django's user: the language their notices use."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Language(models.TextChoices):
    """The languages people read Hikeshi in: its pages, notices and reports."""

    JA = "ja", _("Japanese")
    EN = "en", _("English")


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="profile",
        verbose_name=_("user"),
    )
    language = models.CharField(
        _("language of notices"),
        max_length=2,
        choices=Language.choices,
        blank=True,
        help_text=_("Empty: the team's language (Japanese when notified directly)."),
    )

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")

    def __str__(self) -> str:
        return str(self.user)


def notice_language(user, default: str = "ja") -> str:
    """The language a person reads their notices in; `default` when they chose none."""
    try:
        return user.profile.language or default
    except Profile.DoesNotExist:
        return default
