from __future__ import annotations

import signal

from django.core.management.base import BaseCommand
from django.db import Error as DatabaseError

from webhooks import wakeup
from webhooks.worker import forget_heartbeat, run_once


class Command(BaseCommand):
    help = (
        "Deliver webhooks and fire timers (handoff expiry, agent session timeout). "
        "Any number may run at once; each delivery is sent by one of them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=0.5, help="Idle poll, seconds")
        parser.add_argument("--once", action="store_true", help="One pass, then exit")

    def handle(self, *args, interval: float, once: bool, **options):
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True
            # A second signal stops at once; a delivery cut short is only leased, so another
            # worker sends it when the lease runs out.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)

        # Finish the current pass on SIGTERM/SIGINT instead of dying mid-delivery.
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write("hitlnext worker started")
        self.stdout.flush()
        while not stopping:
            done = run_once()
            if once:
                break
            if not done:
                # In short steps: a stop request is noticed within a fraction of the interval,
                # and a delivery queued meanwhile starts the next pass at once.
                wakeup.idle(interval, stopping=lambda: stopping)
        try:
            forget_heartbeat()  # stopped on purpose: no heartbeat left to age into an alarm
        except DatabaseError:
            pass  # the row ages, then housekeeping forgets it
        self.stdout.write("hitlnext worker stopped")
        self.stdout.flush()
