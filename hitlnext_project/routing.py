"""Websocket routes. Each app owns its consumers; this list only gathers them."""

from __future__ import annotations

websocket_urlpatterns: list = []
