"""The floors' ASGI app, served by Daphne like hitlnext: `bench.floor_asgi:application`.

HTTP goes to bench.floor_urls; /ws/echo/ is a bare Channels consumer in the echo group.
"""

import os

from django.core.asgi import get_asgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.floor_settings"
django_asgi_app = get_asgi_application()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from bench.floor_urls import ECHO_GROUP  # noqa: E402


class EchoConsumer(AsyncWebsocketConsumer):
    groups = [ECHO_GROUP]

    async def push_html(self, event: dict) -> None:
        await self.send(text_data=event["html"])


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([path("ws/echo/", EchoConsumer.as_asgi())]),
    }
)
