from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

from django.conf import settings
from django.core.management.base import BaseCommand

from webhooks.worker import worker_loop

# Above the consumers' own 16 KiB limit, so they answer an oversized message themselves (a
# notice, or 1009) while Daphne drops anything far larger (1009) before buffering it.
WEBSOCKET_MAX_BYTES = 64 * 1024


class Command(BaseCommand):
    help = "Run Daphne (HTTP + websockets) with the worker inside the same process."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="Serve only; run `manage.py run_worker` separately (needs REDIS_URL to push "
            "live updates across processes).",
        )

    def handle(self, *args, host: str, port: int, no_worker: bool, **options):
        # Importing daphne.server installs the asyncio Twisted reactor, so it comes first.
        # The application settings.ASGI_APPLICATION names, as runserver serves it.
        from channels.routing import get_default_application
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        application: Callable[..., Awaitable[None]] = get_default_application()
        tasks = []

        def ready() -> None:
            if not no_worker:
                tasks.append(asyncio.get_event_loop().create_task(worker_loop(0.5)))
            self.stdout.write(f"hitlnext serving on http://{host}:{port}/", ending="\n")
            self.stdout.flush()

        if settings.DEBUG:
            from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

            # django-stubs asks for Django's own ASGIHandler; it wraps any ASGI application
            # (Daphne's runserver wraps Channels' router the same way).
            application = ASGIStaticFilesHandler(application)  # type: ignore[arg-type]
        Server(
            application=application,
            endpoints=build_endpoint_description_strings(host=host, port=port),
            # Sockets stay open until the client leaves: Daphne's default closes them after a
            # day with code 1000, which htmx does not reconnect after.
            websocket_timeout=-1,
            # The sockets only receive small messages (the consumers refuse more than 16 KiB):
            # Daphne's 1 MiB default would let anyone make it buffer a mebibyte per frame.
            websocket_max_message_size=WEBSOCKET_MAX_BYTES,
            websocket_max_frame_size=WEBSOCKET_MAX_BYTES,
            # No proxy headers here: Daphne would believe any client's X-Forwarded-For.
            # HITLNEXT_TRUSTED_PROXIES decides (hitlnext_project/shared/proxies.py).
            ready_callable=ready,
        ).run()
