"""Creating integrations and turning their requests into incident service calls."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from incidents.models import Action
from incidents.services import AlertEvent, alert_key_act, alert_receive

from .models import Integration, hash_secret

User = get_user_model()

# What an integration's service account may do: open incidents and, as its protocol allows,
# acknowledge and resolve them. Nothing else.
INTEGRATION_PERMISSIONS = ["add_incident", "acknowledge_incident", "resolve_incident"]
BUILTIN_API = "api"


def _new_secret(kind: str) -> str:
    # PagerDuty clients check that a routing key has 32 characters.
    return (
        secrets.token_hex(16) if kind == Integration.Kind.PAGERDUTY else secrets.token_urlsafe(32)
    )


@transaction.atomic
def integration_create(
    *, name: str, kind: str, actor: AbstractBaseUser | None = None, **options
) -> tuple[Integration, str]:
    """Create an integration and its service account; the secret is returned this once."""
    if actor is not None and not actor.has_perm("integrations.add_integration"):
        raise PermissionDenied
    if kind not in Integration.Kind.values:
        raise ValidationError({"kind": [_("Unknown kind.")]})
    if Integration.objects.filter(name=name).exists():
        raise ValidationError({"name": [_("An integration with this name exists.")]})
    username = f"integration-{slugify(name)[:100] or secrets.token_hex(4)}"
    while User.objects.filter(username=username).exists():
        username = f"{username[:130]}-{secrets.token_hex(2)}"
    user = User.objects.create_user(username=username, password=None)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="incidents", codename__in=INTEGRATION_PERMISSIONS
        )
    )
    secret = _new_secret(kind)
    integration = Integration(
        name=name,
        kind=kind,
        secret_hash=hash_secret(secret),
        secret_hint=secret[:6],
        user=user,
        **options,
    )
    integration.full_clean(exclude=["user", "secret_hash", "secret_hint"])
    integration.save()
    return integration, secret


@transaction.atomic
def integration_rotate_secret(
    *, integration: Integration, actor: AbstractBaseUser | None = None
) -> str:
    """A new secret, shown this once; the old one stops working. `actor` None: a command."""
    if actor is not None and not actor.has_perm("integrations.change_integration"):
        raise PermissionDenied
    secret = _new_secret(integration.kind)
    integration.secret_hash = hash_secret(secret)
    integration.secret_hint = secret[:6]
    integration.save(update_fields=["secret_hash", "secret_hint"])
    return secret


def integration_for_secret(secret: str, *, kinds: tuple[str, ...]) -> Integration | None:
    """The enabled integration this secret belongs to, if it is of one of `kinds`."""
    if not secret:
        return None
    integration = (
        Integration.objects.select_related("user")
        .filter(secret_hash=hash_secret(secret), enabled=True, kind__in=kinds)
        .first()
    )
    return integration


def integration_builtin_api() -> Integration:
    """The integration that token-authenticated `POST /api/v1/alerts/` requests dedupe under."""
    found = Integration.objects.filter(name=BUILTIN_API).first()
    if found:
        return found
    integration, _secret = integration_create(name=BUILTIN_API, kind=Integration.Kind.GENERIC)
    return integration


@transaction.atomic
def alerts_ingest(*, integration: Integration, events: list[AlertEvent], actor=None) -> list:
    """All alerts of one request, all or nothing; returns the incidents they belong to."""
    actor = actor or integration.user
    incidents = []
    for event in events:
        alert = alert_receive(integration=integration, event=event, actor=actor)
        if alert is not None and alert.incident not in incidents:
            incidents.append(alert.incident)
    return incidents


@transaction.atomic
def pagerduty_act(*, integration: Integration, dedup_key: str, action: str):
    """PagerDuty `acknowledge` / `resolve`: act on the incident open under the dedup key; a
    resolve is also the alert's resolution."""
    if action == "resolve":
        resolved = AlertEvent(
            key=dedup_key,
            fingerprint=dedup_key,
            firing=False,
            title="",
            severity=integration.default_severity,
        )
        alert_receive(integration=integration, event=resolved, actor=integration.user)
    lifecycle = Action.ACKNOWLEDGE if action == "acknowledge" else Action.RESOLVE
    return alert_key_act(
        integration=integration, key=dedup_key, action=lifecycle, actor=integration.user
    )
