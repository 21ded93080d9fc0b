import multiprocessing
import os
import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connections

from integrations.services import (
    DELIVERY_BATCH,
    deliveries_process,
    lane_lock_try,
    lane_unlock,
    processor_lanes,
)
from pulses.services import pulse_record

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


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
                if child.pid is not None and child.exitcode is None:
                    child.terminate()

        # A forked lane inherits this process's handlers until it installs its own: a stop
        # that arrived in between was lost. So stop signals wait, blocked, until each process
        # has its own handler; then they are delivered, late by a moment, never lost.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        for child in children:
            child.start()
        for sig in STOP_SIGNALS:
            signal.signal(sig, stop)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        for child in children:
            child.join()
        if any(child.exitcode for child in children):
            raise CommandError("a lane stopped with an error")

    def run_lane(self, lane: int, lanes: int, once: bool, interval: float) -> None:
        """The healthchecks-style loop: apply what is waiting, else sleep a moment."""
        self.stopping = False
        for sig in STOP_SIGNALS:
            signal.signal(sig, self.stop)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked by the parent
        parent = os.getppid()
        applied, locked, limit = 0, False, DELIVERY_BATCH
        while not self.stopping and (lanes == 1 or os.getppid() == parent):
            try:
                locked = locked or self.wait_for_the_lock(lane, lanes, interval)
                if not locked:
                    break  # asked to stop while standing by
                pulse_record(f"alerts:lane:{lane + 1}/{lanes}", {"applied": applied})
                batch = deliveries_process(lane=lane, lanes=lanes, limit=limit)
            except OperationalError as error:  # the database went away: reconnect and go on
                self.stderr.write(f"database unavailable: {error}")
                connections.close_all()  # the lock goes with the connection
                locked = False
                # Connections cut again and again: smaller batches still finish between cuts.
                limit = max(1, limit // 2)
                time.sleep(1)
                continue
            applied += batch
            backlog = batch == limit
            if batch:
                limit = min(DELIVERY_BATCH, limit * 2)
            if batch and (backlog or once):
                continue  # the next batch at once
            if once:
                break
            # Caught up: what arrives meanwhile waits a moment, so that under a storm the
            # lane applies batches of many alerts (set-based, cheaper each) instead of one
            # or two at a time as they come, which took the CPU the senders are answered with.
            time.sleep(interval)
        if locked:
            lane_unlock(lane)
        self.stdout.write(f"lane {lane + 1}/{lanes}: {applied} deliveries applied")

    def stop(self, *_args):
        self.stopping = True

    def wait_for_the_lock(self, lane: int, lanes: int, interval: float) -> bool:
        """A lane's deliveries must be applied in order, so a second processor stands by."""
        standing_by = False
        while not self.stopping:
            if lane_lock_try(lane):
                return True
            if not standing_by:
                self.stdout.write(f"lane {lane + 1}/{lanes}: standing by, another processor has it")
                self.stdout.flush()
                standing_by = True
            time.sleep(interval * 10)
        return False
