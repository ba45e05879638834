"""Websocket routes. Each app owns its consumers; this list only gathers them."""

from __future__ import annotations

from django.urls import path

from conversations.webchat_consumers import VisitorConsumer

websocket_urlpatterns: list = [
    path("ws/chat/", VisitorConsumer.as_asgi()),
]
