import signal
import time

from django.core.management.base import BaseCommand
from django.db import OperationalError, connection, connections

from integrations.services import deliveries_process

# Any constant both processors agree on: only the one holding it applies deliveries.
PROCESSOR_LOCK = 0x48494B45


class Command(BaseCommand):
    help = (
        "Turn accepted alert deliveries into incidents, in the order they arrived. Run one; "
        "on PostgreSQL a second one waits as a standby."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="apply what is waiting, then stop")
        parser.add_argument(
            "--interval", type=float, default=0.2, help="seconds between looks when idle"
        )

    def handle(self, *args, once, interval, **options):
        self.stopping = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.stop)
        applied, locked = 0, False
        while not self.stopping:
            try:
                locked = locked or self.wait_for_the_lock(interval)
                batch = deliveries_process()
            except OperationalError as error:  # the database went away: reconnect and go on
                self.stderr.write(f"database unavailable: {error}")
                connections.close_all()  # the lock goes with the connection
                locked = False
                time.sleep(1)
                continue
            applied += batch
            if batch:
                continue
            if once:
                break
            time.sleep(interval)
        self.stdout.write(f"{applied} deliveries applied")

    def stop(self, *_args):
        self.stopping = True

    def wait_for_the_lock(self, interval: float) -> bool:
        """Deliveries must be applied in order, so a second processor stands by."""
        if connection.vendor != "postgresql":
            return True  # SQLite serialises writers anyway
        with connection.cursor() as cursor:
            while not self.stopping:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [PROCESSOR_LOCK])
                if cursor.fetchone()[0]:
                    return True
                time.sleep(interval * 10)
        return False
