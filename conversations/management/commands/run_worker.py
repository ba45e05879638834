from __future__ import annotations

import signal
import time

from django.core.management.base import BaseCommand

from conversations.worker import run_once


class Command(BaseCommand):
    help = "Deliver webhooks and fire timers (handoff expiry, agent session timeout)."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=0.5, help="Idle poll, seconds")
        parser.add_argument("--once", action="store_true", help="One pass, then exit")

    def handle(self, *args, interval: float, once: bool, **options):
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        # Finish the current pass on SIGTERM/SIGINT instead of dying mid-delivery.
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write("hitlnext worker started")
        while not stopping:
            done = run_once()
            if once:
                break
            if not done:
                time.sleep(interval)
        self.stdout.write("hitlnext worker stopped")
