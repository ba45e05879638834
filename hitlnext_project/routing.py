"""Websocket routes. Each app owns its consumers; this list only gathers them."""

from __future__ import annotations

from django.urls import path

from handoffs.consumers import AgentConsumer
from webchat.consumers import VisitorConsumer

websocket_urlpatterns: list = [
    path("ws/chat/", VisitorConsumer.as_asgi()),
    path("ws/agent/", AgentConsumer.as_asgi()),
]
