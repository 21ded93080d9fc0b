"""Integrations: creating and changing them, authenticating their requests, and the queue of
accepted deliveries that the alert processor turns into `alerts` service calls."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import secrets
import time
import zlib
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Permission
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import QuerySet, Value
from django.db.models.functions import Mod
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from alerts.batches import AlertBatch
from alerts.events import AlertEvent
from alerts.services import alert_key_act, alert_receive, alerts_ingest
from changes.models import Change, Origin
from changes.services import change_record
from config.base import (
    SYSTEM,
    ActionNotAllowed,
    audit_actor_set,
    audit_change,
    fields_allowed,
    require_permission,
    row_change,
    row_lock,
)
from config.memo import batch_memo, memoized
from incidents.models import Action

from . import parsers
from .models import KNOWN_SECRETS, AlertDelivery, Integration, hash_secret

logger = logging.getLogger(__name__)

User = get_user_model()

# What an integration's service account may do: open incidents and, as its protocol allows,
# acknowledge and resolve them. Nothing else.
INTEGRATION_PERMISSIONS = ["add_incident", "acknowledge_incident", "resolve_incident"]
BUILTIN_API = "api"
# What a manager may change; the kind and the service account are fixed at creation.
INTEGRATION_FIELDS = (
    "name",
    "default_severity",
    "severity_mapping",
    "grouping",
    "group_by",
    "group_window",
    "auto_resolve",
    "enabled",
    "policy",
    "hmac_secret_env",
)


def _new_secret(kind: str) -> str:
    # PagerDuty clients check that a routing key has 32 characters.
    return (
        secrets.token_hex(16) if kind == Integration.Kind.PAGERDUTY else secrets.token_urlsafe(32)
    )


@transaction.atomic
def integration_create(
    *, name: str, kind: str, actor: AbstractBaseUser, **options
) -> tuple[Integration, str]:
    """Create an integration and its service account; the secret is returned this once."""
    require_permission(actor, "integrations.add_integration")
    fields_allowed(INTEGRATION_FIELDS, options)
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
def integration_update(
    *, integration: Integration, actor: AbstractBaseUser, **changes
) -> Integration:
    """Change an integration's settings (enable, disable, its mapping or policy); a disabled
    integration stops answering here at once and everywhere within the auth cache time."""
    require_permission(actor, "integrations.change_integration")
    return row_change(
        integration,
        fields_allowed(INTEGRATION_FIELDS, changes),
        exclude=["user", "secret_hash", "secret_hint"],
    )


@transaction.atomic
def integration_delete(*, integration: Integration, actor: AbstractBaseUser) -> None:
    """Only an integration that never sent an alert can go (its alerts are history); others
    are disabled instead."""
    require_permission(actor, "integrations.delete_integration")
    integration.delete()


@transaction.atomic
def integration_rotate_secret(*, integration: Integration, actor: AbstractBaseUser) -> str:
    """A new secret, shown this once; the old one stops working."""
    require_permission(actor, "integrations.change_integration")
    integration = row_lock(integration)
    secret = _new_secret(integration.kind)
    integration.secret_hash = hash_secret(secret)
    integration.secret_hint = secret[:6]
    integration.save(update_fields=["secret_hash", "secret_hint"])
    return secret


def integration_for_secret(secret: str, *, kinds: tuple[str, ...]) -> Integration | None:
    """The enabled integration this secret belongs to, if it is of one of `kinds`."""
    if not secret:
        return None
    digest = hash_secret(secret)
    now = time.monotonic()
    known = KNOWN_SECRETS.get(digest)
    if known is None or known[0] < now:
        integration = Integration.objects.filter(secret_hash=digest, enabled=True).first()
        if integration is None:
            # Unknown secrets are not remembered: guessing must not grow the memory.
            KNOWN_SECRETS.pop(digest, None)
            return None
        known = (now + settings.INTEGRATION_AUTH_CACHE_SECONDS, integration)
        KNOWN_SECRETS[digest] = known
    integration = known[1]
    return integration if integration.kind in kinds else None


def integration_builtin_api() -> Integration:
    """The integration that token-authenticated `POST /api/v1/alerts/` requests dedupe under."""
    found = Integration.objects.filter(name=BUILTIN_API).first()
    if found:
        return found
    integration, _secret = integration_create(
        name=BUILTIN_API, kind=Integration.Kind.GENERIC, actor=SYSTEM
    )
    return integration


@transaction.atomic
def pagerduty_act(
    *, integration: Integration, dedup_key: str, action: str, received_at: datetime | None = None
):
    """PagerDuty `acknowledge` / `resolve`: act on the incident open under the dedup key; a
    resolve is also the alert's resolution."""
    if action == "resolve":
        resolved = AlertEvent(
            key=dedup_key,
            fingerprint=dedup_key,
            firing=False,
            title="",
            severity=integration.default_severity,
            received_at=received_at,
        )
        alert_receive(integration=integration, event=resolved, actor=integration.user)
    lifecycle = Action.ACKNOWLEDGE if action == "acknowledge" else Action.RESOLVE
    return alert_key_act(
        integration=integration, key=dedup_key, action=lifecycle, actor=integration.user
    )


def pagerduty_change_record(*, integration: Integration, body: dict) -> Change:
    """A PagerDuty change event, validated, recorded as a finished change. The routing key
    is the integration's secret, checked already: the change is Hikeshi's record of what the
    integration reported, named after its service account."""
    audit_actor_set(integration.user)
    fields = parsers.pagerduty_change(integration, body, received_at=timezone.now())
    return change_record(
        actor=SYSTEM, recorded_by=integration.user, origin=Origin.PAGERDUTY, **fields
    )


# One plain statement: under an alert storm this insert is most of what a request costs, and
# the ORM's save path (its SQL compiler, the model's signals) added 40 % to it.
_DELIVERY_INSERT = (
    f"INSERT INTO {AlertDelivery._meta.db_table} "  # noqa: S608 # nosec B608 # the model's table name; values are bound parameters
    "(integration_id, body, lane, received_at, attempts, error) VALUES (%s, %s, %s, %s, 0, '')"
)


def delivery_accept(*, integration: Integration, body: dict) -> None:
    """Store a validated request for the processor; the sender is answered after this."""
    # PagerDuty's routing key is the integration's secret, checked already: never stored
    # (the delivery, then the alert's raw payload, would keep it in the clear).
    body = {name: value for name, value in body.items() if name != "routing_key"}
    key = body.get("dedup_key") or body.get("groupKey") or ""
    # Alerts of one key share a lane, so processors working lanes side by side never reorder
    # them (a resolve overtaking its trigger).
    lane = zlib.crc32(f"{integration.pk}:{key}".encode()) & 0x7FFFFFFF
    with connection.cursor() as cursor:
        cursor.execute(_DELIVERY_INSERT, [integration.pk, json.dumps(body), lane, timezone.now()])


def _delivery_events(integration: Integration, delivery: AlertDelivery) -> list[AlertEvent] | None:
    """The delivery's alerts, as of when it arrived; None for a PagerDuty acknowledge or
    resolve, which acts on an incident instead."""
    body = delivery.body
    if integration.kind != Integration.Kind.PAGERDUTY:
        events = parsers.alertmanager_events(integration, body)
    elif body["event_action"] == "trigger":
        events = [parsers.pagerduty_alert_event(integration, body)]
    else:
        return None
    # Applied late after a storm, an alert still counts from when it arrived.
    return [dataclasses.replace(e, received_at=delivery.received_at) for e in events]


def _delivery_apply(
    integration: Integration, delivery: AlertDelivery, events: list[AlertEvent] | None
) -> None:
    """One delivery on its own, through the one-at-a-time services."""
    if events is not None:
        alerts_ingest(integration=integration, events=events)
        return
    # Already past that state: PagerDuty accepts such events silently too.
    with contextlib.suppress(ActionNotAllowed):
        pagerduty_act(
            integration=integration,
            dedup_key=delivery.body["dedup_key"],
            action=delivery.body["event_action"],
            received_at=delivery.received_at,
        )


def _delivery_failed(pk: int, error: Exception) -> None:
    delivery = AlertDelivery.objects.get(pk=pk)
    delivery.attempts += 1
    delivery.error = f"{type(error).__name__}: {error}"[:2000]
    if delivery.attempts >= settings.ALERT_DELIVERY_ATTEMPTS:
        delivery.failed_at = timezone.now()
    delivery.save(update_fields=["attempts", "error", "failed_at"])


DELIVERY_BATCH = 100


def deliveries_process(*, limit: int = DELIVERY_BATCH, lane: int = 0, lanes: int = 1) -> int:
    """Apply waiting deliveries in the order they arrived; with `lanes` > 1 only those of
    lane number `lane`. Returns how many were applied.

    They are applied together, in one transaction with their deletion. Should one of them
    fail, that transaction is undone and they are applied again one at a time, each in its
    own transaction: the failing one stops the pass, so that the next pass retries it before
    anything that came after it (a resolve must not overtake its trigger); after
    ALERT_DELIVERY_ATTEMPTS failures it is set aside for a person to look at.
    """
    pending = AlertDelivery.objects.filter(failed_at__isnull=True).order_by("id")
    if lanes > 1:
        pending = pending.alias(slot=Mod("lane", Value(lanes))).filter(slot=lane)
    try:
        with batch_memo():  # one integration, policy and template lookup per pass
            return _deliveries_apply_together(pending, limit)
    except (OperationalError, InterfaceError):
        raise  # the database's trouble, not a delivery's: the caller waits and retries
    except Exception:
        logger.info("a delivery failed within a batch; applying them one at a time")
    with batch_memo():
        return _deliveries_apply_each(pending, limit)


def _integration_of(delivery: AlertDelivery) -> Integration:
    return memoized(
        ("integration", delivery.integration_id),
        lambda: Integration.objects.select_related("user").get(pk=delivery.integration_id),
    )


def _firing(work: list[tuple]) -> list[tuple[Integration, AlertEvent]]:
    return [(i, e) for _d, i, events in work for e in events or () if e.firing]


def _deliveries_apply_together(pending: QuerySet[AlertDelivery], limit: int) -> int:
    """A handful of statements and one commit for the whole batch, however many alerts and new
    incidents are in it (`AlertBatch`), the deliveries deleted at once.

    A delivery that does more than report firing alerts (a resolve, a PagerDuty acknowledge)
    is applied on its own, in its place: what came before it is written first.
    A processor working the same lane meanwhile waits on the first locked row, so that
    deliveries of one key are never applied out of order.
    """
    with transaction.atomic():
        deliveries = list(pending.select_for_update()[:limit])
        work = []
        for delivery in deliveries:
            integration = _integration_of(delivery)
            work.append((delivery, integration, _delivery_events(integration, delivery)))
        batch = AlertBatch()
        batch.read_ahead(_firing(work))
        for n, (delivery, integration, events) in enumerate(work):
            if events is not None and all(e.firing for e in events):
                batch.ingest(integration=integration, events=events)
                continue
            batch.flush()
            _delivery_apply(integration, delivery, events)
            batch.read_ahead(_firing(work[n + 1 :]))  # it may have changed some
        batch.flush()
        AlertDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).delete()
    return len(deliveries)


def _deliveries_apply_each(pending: QuerySet[AlertDelivery], limit: int) -> int:
    applied = 0
    for pk in pending.values_list("pk", flat=True)[:limit]:
        try:
            with transaction.atomic():
                delivery = pending.select_for_update().filter(pk=pk).first()
                if delivery is None:
                    continue  # applied by another processor meanwhile
                integration = _integration_of(delivery)
                _delivery_apply(integration, delivery, _delivery_events(integration, delivery))
                delivery.delete()
        except (OperationalError, InterfaceError):
            raise
        except Exception as error:
            logger.exception("alert delivery %s failed", pk)
            _delivery_failed(pk, error)
            break
        applied += 1
    return applied


@transaction.atomic
def deliveries_retry(*, deliveries: QuerySet[AlertDelivery], actor: AbstractBaseUser) -> int:
    """Put set-aside deliveries back in line once their cause is fixed. They are applied next,
    so after alerts of their key that arrived later. Recorded in the audit log."""
    require_permission(actor, "integrations.change_alertdelivery")
    retried = 0
    for delivery in deliveries.select_for_update().filter(failed_at__isnull=False):
        audit_change(
            delivery,
            actor=actor,
            changes={
                "failed_at": [delivery.failed_at.isoformat(), None],
                "attempts": [delivery.attempts, 0],
            },
        )
        delivery.failed_at, delivery.attempts = None, 0
        delivery.save(update_fields=["failed_at", "attempts"])
        retried += 1
    return retried


# Lane n is applied only by the session holding PostgreSQL advisory lock LANE_LOCK + n.
LANE_LOCK = 0x48494B00


def lane_lock_try(lane: int) -> bool:
    """Take lane `lane` for this database session, if nobody holds it (SQLite: always)."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LANE_LOCK + lane])
        return cursor.fetchone()[0]


def lane_unlock(lane: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LANE_LOCK + lane])


def processor_lanes() -> int:
    """Lanes in use: ALERT_PROCESSOR_LANES on PostgreSQL; SQLite has one writer anyway."""
    return settings.ALERT_PROCESSOR_LANES if connection.vendor == "postgresql" else 1


def deliveries_sweep(*, waited: timedelta, max_passes: int = 10) -> int:
    """The beat's guarantee for alerts, as the sweeper's is for timers: when deliveries have
    waited longer than `waited` (the processor is not running), apply them here, lane by
    lane, leaving alone every lane a live processor holds. Returns how many were applied."""
    overdue = AlertDelivery.objects.filter(
        failed_at__isnull=True, received_at__lt=timezone.now() - waited
    )
    if not overdue.exists():
        return 0
    lanes, applied = processor_lanes(), 0
    for lane in range(lanes):
        if not lane_lock_try(lane):
            continue
        try:
            for _pass in range(max_passes):
                batch = deliveries_process(lane=lane, lanes=lanes)
                applied += batch
                if not batch:
                    break
        finally:
            lane_unlock(lane)
    if applied:
        logger.warning("the alert processor seems to be down: %s deliveries applied", applied)
    return applied
