"""Each Celery worker writes a pulse per queue it consumes, from a thread of its main process,
for as long as it runs: a worker that is down, wedged or cut off from the database stops."""

from __future__ import annotations

import logging
import threading

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections

from .services import pulse_record

log = logging.getLogger(__name__)
_stop = threading.Event()


def _beat(names: list[str], hostname: str) -> None:
    while not _stop.is_set():
        try:
            close_old_connections()
            for name in names:
                pulse_record(name, {"host": hostname}, force=True)
        except Exception:  # noqa: BLE001 — the database is away: the pulse stops, the worker not
            log.warning("could not write the worker's pulse", exc_info=True)
        _stop.wait(settings.PULSE_SECONDS)


@worker_ready.connect
def worker_pulse_start(sender=None, **kwargs) -> None:
    queues = sorted(sender.app.amqp.queues.consume_from)
    names = [f"worker:{queue}" for queue in queues]
    threading.Thread(target=_beat, args=(names, sender.hostname), name="pulse", daemon=True).start()


@worker_shutdown.connect
def worker_pulse_stop(**kwargs) -> None:
    _stop.set()
