"""Opening and closing maintenance windows: the one place their rules are checked.

The admin, the API and other apps (a release change opening a window for its duration)
call these. Holding and releasing alerts is alert intake's: `alerts.services`.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext as _

from config.base import (
    database_now,
    recorded_actor,
    require_permission,
    row_lock,
    task_after_commit,
)

from .models import MaintenanceWindow

OPEN_PERMISSION = "maintenance.add_maintenancewindow"
CLOSE_PERMISSION = "maintenance.change_maintenancewindow"


def _max_length() -> timedelta:
    return timedelta(days=settings.MAINTENANCE_WINDOW_MAX_DAYS)


def _matchers(value) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(name, str) and name and isinstance(label, str) for name, label in value.items()
    ):
        raise ValidationError(
            {"matchers": [_('Give label matchers as names and values: {"job": "api"}.')]}
        )
    return dict(sorted(value.items()))


def window_check(
    *,
    service: str = "",
    matchers: dict | None = None,
    starts_at: datetime | None,
    ends_at: datetime | None,
    now: datetime | None = None,
    exclude_pk: int | None = None,
) -> dict:
    """The window's fields as they will be stored, or a ValidationError naming each wrong
    field: it covers something, it ends, within MAINTENANCE_WINDOW_MAX_DAYS, not in the past,
    and overlaps no other window over the same service and matchers."""
    now = now or database_now()
    service = (service or "").strip()
    matchers = _matchers(matchers)
    starts_at = starts_at or now
    errors: dict[str, list[str]] = {}
    if not service and not matchers:
        errors["service"] = [_("Name the service or label matchers the window covers.")]
    if len(service) > 100:
        errors["service"] = [_("At most 100 characters.")]
    if ends_at is None:
        errors["ends_at"] = [_("A maintenance window must end.")]
    elif ends_at <= starts_at:
        errors["ends_at"] = [_("The window must end after it starts.")]
    elif ends_at <= now:
        errors["ends_at"] = [_("The window has already ended.")]
    elif ends_at - starts_at > _max_length():
        errors["ends_at"] = [
            _("A maintenance window lasts at most %(days)s days.")
            % {"days": f"{settings.MAINTENANCE_WINDOW_MAX_DAYS:g}"}
        ]
    if errors:
        raise ValidationError(errors)
    overlapping = MaintenanceWindow.objects.filter(
        service=service, matchers=matchers, starts_at__lt=ends_at, ends_at__gt=starts_at
    ).exclude(pk=exclude_pk)
    if other := overlapping.first():
        raise ValidationError(
            {
                "starts_at": [
                    _("It overlaps window #%(pk)s over the same service and matchers.")
                    % {"pk": other.pk}
                ]
            }
        )
    return {"service": service, "matchers": matchers, "starts_at": starts_at, "ends_at": ends_at}


def _scope_lock(service: str, matchers: dict) -> None:
    """Two managers opening the same window at once: the second waits, then sees the first
    and is refused as overlapping."""
    if connection.vendor == "postgresql":
        scope = zlib.crc32(f"maintenance:{service}:{sorted(matchers.items())}".encode())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [scope])


@transaction.atomic
def open_window(
    *,
    opened_by: AbstractBaseUser | AnonymousUser,
    ends_at: datetime | None,
    reason: str,
    service: str = "",
    matchers: dict | None = None,
    starts_at: datetime | None = None,
    pages_p0: bool = True,
    reference: str = "",
    actor: AbstractBaseUser | AnonymousUser | None = None,
) -> MaintenanceWindow:
    """Open a window over `service` or `matchers` from `starts_at` (now) to `ends_at`.

    `actor` (by default `opened_by`) needs the permission; another app opening a window on a
    person's behalf (a release change) passes `actor=SYSTEM` and the person as `opened_by`.
    """
    actor = actor or opened_by
    require_permission(actor, OPEN_PERMISSION)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Say why the window is opened.")]})
    fields = window_check(service=service, matchers=matchers, starts_at=starts_at, ends_at=ends_at)
    _scope_lock(fields["service"], fields["matchers"])
    fields = window_check(**fields)  # again under the lock: a window opened meanwhile
    window = MaintenanceWindow(
        **fields,
        reason=reason[:500],
        pages_p0=pages_p0,
        reference=(reference or "")[:200],
        opened_by=recorded_actor(opened_by),
    )
    window.full_clean()
    window.save()
    return window


@transaction.atomic
def close_window(
    *, window: MaintenanceWindow, actor: AbstractBaseUser | AnonymousUser
) -> MaintenanceWindow:
    """End the window now, before its planned end: its alerts still firing open their
    incidents at the release sweep, which is asked for at once. A window that has not begun
    is called off the same way (it ends before it would have started)."""
    require_permission(actor, CLOSE_PERMISSION)
    window = row_lock(window)
    now = database_now()
    if window.ends_at <= now:
        return window  # over already: nothing to close
    window.starts_at = min(window.starts_at, now - timedelta(microseconds=1))
    window.ends_at, window.closed_at, window.closed_by = now, now, recorded_actor(actor)
    window.save(update_fields=["starts_at", "ends_at", "closed_at", "closed_by"])
    task_after_commit("alerts.release_held")
    return window
