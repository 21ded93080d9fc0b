"""`manage.py check --deploy`: what Django's own deployment checks do not know about Hikeshi."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def secret_key_from_environment(app_configs, **kwargs):
    """A key kept under var/ is one machine's own: a second machine would refuse its sessions
    and its signed acknowledge links."""
    if settings.SECRET_KEY_FROM_ENVIRONMENT:
        return []
    return [
        Warning(
            "SECRET_KEY is not set in the environment; this machine uses its own under var/.",
            hint="Set SECRET_KEY (the same on every machine) in the service's environment.",
            id="hikeshi.W001",
        )
    ]
