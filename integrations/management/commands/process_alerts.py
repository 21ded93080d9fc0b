import multiprocessing
import os
import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connections

from integrations.services import deliveries_process, lane_lock_try, lane_unlock, processor_lanes


class Command(BaseCommand):
    help = (
        "Turn accepted alert deliveries into incidents, in the order they arrived, with one "
        "process per lane (ALERT_PROCESSOR_LANES). On PostgreSQL a second processor waits as "
        "a standby."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="apply what is waiting, then stop")
        parser.add_argument(
            "--interval", type=float, default=0.2, help="seconds between looks when idle"
        )

    def handle(self, *args, once, interval, **options):
        # One lane count everywhere (the beat's sweep partitions the same way).
        lanes = processor_lanes()
        if lanes < 1:
            raise CommandError("ALERT_PROCESSOR_LANES must be at least 1")
        # Senders time out and retry when answers are slow; a backlog only waits. So under
        # a storm the web processes answer first and the lanes use the CPU left over.
        os.nice(settings.ALERT_PROCESSOR_NICE)
        if lanes == 1:
            self.run_lane(0, 1, once, interval)
            return
        connections.close_all()  # each lane opens its own
        context = multiprocessing.get_context("fork")
        children = [
            context.Process(target=self.run_lane, args=(lane, lanes, once, interval))
            for lane in range(lanes)
        ]

        def stop(*_args):
            for child in children:
                if child.is_alive():
                    child.terminate()

        # Before the lanes start, so that a stop asked for at once stops them too.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, stop)
        for child in children:
            child.start()
        for child in children:
            child.join()
        if any(child.exitcode for child in children):
            raise CommandError("a lane stopped with an error")

    def run_lane(self, lane: int, lanes: int, once: bool, interval: float) -> None:
        """The healthchecks-style loop: apply what is waiting, else sleep a moment."""
        self.stopping = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.stop)
        parent = os.getppid()
        applied, locked = 0, False
        while not self.stopping and (lanes == 1 or os.getppid() == parent):
            try:
                locked = locked or self.wait_for_the_lock(lane, interval)
                batch = deliveries_process(lane=lane, lanes=lanes)
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
        if locked:
            lane_unlock(lane)
        self.stdout.write(f"lane {lane + 1}/{lanes}: {applied} deliveries applied")

    def stop(self, *_args):
        self.stopping = True

    def wait_for_the_lock(self, lane: int, interval: float) -> bool:
        """A lane's deliveries must be applied in order, so a second processor stands by."""
        while not self.stopping:
            if lane_lock_try(lane):
                return True
            time.sleep(interval * 10)
        return False
