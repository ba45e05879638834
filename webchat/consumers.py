"""The web chat visitor's socket: anonymous, identified only by its own visitor id."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from webchat import live, services, visitors

# Bigger than any valid frame: 2000 characters JSON-escaped (up to 6 bytes each) plus the
# HEADERS htmx adds. Anything larger is refused unread.
MAX_FRAME_BYTES = 16 * 1024


def _query_token(scope: Mapping[str, Any]) -> str:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("t", [])
    return values[0] if values else ""


def _visitor_from_scope(scope: Mapping[str, Any]) -> str | None:
    """The session's visitor id, else the signed token the chat page put in the socket URL."""
    session = scope.get("session")
    visitor_id = session.get(visitors.SESSION_KEY) if session is not None else None
    if visitors.is_visitor_id(visitor_id):
        return visitor_id
    return visitors.visitor_from_token(_query_token(scope))


def _header(scope: Mapping[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


class VisitorConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        # The session loads lazily from the database: not from the event loop.
        visitor_id = await database_sync_to_async(_visitor_from_scope)(self.scope)
        if visitor_id is None:
            await self.close(code=4403)
            return
        self.visitor_id = visitor_id
        self.language = visitors.language_from_header(_header(self.scope, b"accept-language"))
        # Join first, then catch up: a message committed in between is in one or the other.
        self.group = visitors.visitor_group(visitor_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        html = await database_sync_to_async(live.render_catch_up)(visitor_id)
        await self.send(text_data=html)

    async def disconnect(self, code: int) -> None:
        group = getattr(self, "group", None)
        if group is not None:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        if text_data is None or len(text_data.encode()) > MAX_FRAME_BYTES:
            await self._notice(f"Messages are limited to {services.MAX_TEXT_LENGTH} characters.")
            return
        try:
            data = json.loads(text_data)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            await self._notice("Sorry, that message could not be read.")
            return
        try:
            if data.get("action") == "handoff":
                await database_sync_to_async(services.request_person)(
                    visitor_id=self.visitor_id, language=self.language
                )
            else:
                await database_sync_to_async(services.post_visitor_message)(
                    visitor_id=self.visitor_id, text=data.get("text")
                )
        except services.VisitorError as error:
            await self._notice(str(error))
            return
        # The stored messages and status come back through the group, like any push.
        await self._notice("")

    async def _notice(self, text: str) -> None:
        # No database access: a template render only.
        await self.send(text_data=live.render_notice(text))

    async def push_html(self, event: dict) -> None:
        await self.send(text_data=event["html"])
