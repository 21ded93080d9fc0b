"""What Hikeshi keeps about a person beyond Django's user: the language their notices use,
the chat accounts that act as them, and the one-time links they have used."""

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


class ChatProvider(models.TextChoices):
    SLACK = "slack", "Slack"
    MATTERMOST = "mattermost", "Mattermost"


class ChatIdentity(models.Model):
    """A chat account (a Slack or Mattermost user in one workspace) that acts as a person."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="chat_identities",
        verbose_name=_("user"),
    )
    provider = models.CharField(_("chat"), max_length=16, choices=ChatProvider.choices)
    workspace = models.CharField(
        _("workspace"), max_length=64, help_text=_("Slack team id (T…) or Mattermost team id.")
    )
    external_id = models.CharField(
        _("chat user id"), max_length=64, help_text=_("Slack user id (U…) or Mattermost user id.")
    )
    created_at = models.DateTimeField(_("linked at"), auto_now_add=True)

    class Meta:
        verbose_name = _("chat identity")
        verbose_name_plural = _("chat identities")
        ordering = ["provider", "workspace", "external_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "workspace", "external_id"], name="one_person_per_chat_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.workspace}:{self.external_id} → {self.user}"


class UsedToken(models.Model):
    """A one-time link that has been used: the unique nonce makes a second use fail."""

    nonce = models.CharField(max_length=64, unique=True)
    purpose = models.CharField(max_length=32)
    used_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.purpose} {self.nonce[:8]}…"
