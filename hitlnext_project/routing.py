"""Websocket routes. Each app owns its consumers; this list only gathers them."""

from __future__ import annotations

from django.urls import path

from handoffs.consumers import AgentConsumer
from webchat.consumers import VisitorConsumer

# django-stubs types path() for views only; Channels routes consumers with it (URLRouter).
websocket_urlpatterns: list = [
    path("ws/chat/", VisitorConsumer.as_asgi()),  # type: ignore[arg-type]
    path("ws/agent/", AgentConsumer.as_asgi()),  # type: ignore[arg-type]
]
