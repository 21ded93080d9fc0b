"""Writing a pulse: one UPDATE (or the first INSERT), at most twice per PULSE_SECONDS a
process, so that a busy loop does not turn liveness into load."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Now

from .models import Pulse

_written: dict[str, float] = {}


def pulse_record(name: str, details: dict[str, Any] | None = None, *, force: bool = False) -> bool:
    """Say that `name` is alive now; returns whether it was written (else throttled)."""
    now = time.monotonic()
    if not force and now - _written.get(name, -1e9) < settings.PULSE_SECONDS / 2:
        return False
    _written[name] = now
    # The database's clock: a machine whose clock runs behind must not look stopped.
    fields = {"at": Now(), **({"details": details} if details is not None else {})}
    if Pulse.objects.filter(name=name).update(**fields):
        return True
    try:
        with transaction.atomic():
            Pulse.objects.create(name=name, **({"details": {}} | fields))
    except IntegrityError:  # another process wrote it first
        Pulse.objects.filter(name=name).update(**fields)
    return True
