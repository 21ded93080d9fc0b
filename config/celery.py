import os

from celery import Celery, platforms
from celery.apps.beat import Beat as CeleryBeat
from kombu.utils.objects import cached_property

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class Beat(CeleryBeat):
    """Celery's beat, except that SIGTERM and SIGINT only raise SystemExit.

    Celery's own handler saves the schedule inside the signal handler. A signal that arrived
    while the database scheduler was still starting ran that save in the middle of the
    scheduler's own query; the save failed, its error was swallowed by the scheduler, and beat
    never stopped. The service saves the schedule on its way out anyway (`Service.start`'s
    `finally`), outside the handler.

    SystemExit itself can be lost the same way: raised inside the scheduler's COMMIT, the
    rollback that follows fails, the scheduler logs that error and carries on. So the handler
    first marks the service shut down; its loop checks the mark before every tick.
    """

    def install_sync_handler(self, service):
        def stop(signum, frame):
            service._is_shutdown.set()
            raise SystemExit()

        platforms.signals.update(SIGTERM=stop, SIGINT=stop)


class Hikeshi(Celery):
    @cached_property
    def Beat(self):  # noqa: N802 — Celery's name for the beat application class
        return self.subclass_with_self(Beat)


app = Hikeshi("hikeshi")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
