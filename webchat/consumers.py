"""The web chat visitor's socket: anonymous, identified only by its own visitor id.

Anyone can open one, so nothing a frame asks for reaches the database unless the visitor's,
its address's and the overall budgets allow it (webchat/limits.py), and a socket sending more
than FRAMES_PER_SECOND frames in a second is closed (TOO_MANY_FRAMES).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from asgiref.typing import (
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    WebSocketCloseEvent,
)
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import translation
from django.utils.translation import gettext

from handoffs import live as handoff_live
from handoffs.typing import TypingThrottle
from hitlnext_project.shared.http import scope_header, scope_language
from webchat import limits, live, services, visitors

# Bigger than any valid frame: 2000 characters JSON-escaped (up to 6 bytes each) plus the
# HEADERS htmx adds. Anything larger is refused unread.
MAX_FRAME_BYTES = 16 * 1024
# A person presses Send a few times a second at most; a script sends thousands.
FRAMES_PER_SECOND = 20
# "Too many frames", in the private range as 4403 is "forbidden". RFC 6455's 1008 (policy
# violation) would say it, but Daphne (autobahn) lets a server send only 1000 or 3000-4999:
# close(code=1008) raises there, and the socket ends with 1011, which htmx reconnects after.
TOO_MANY_FRAMES = 4429


def _query_token(scope: Mapping[str, Any]) -> str:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("t", [])
    return values[0] if values else ""


def _visitor_from_scope(scope: Mapping[str, Any]) -> str | None:
    """The visitor cookie's id, else the signed token the chat page put in the socket URL."""
    cookie = scope.get("cookies", {}).get(visitors.COOKIE_NAME)
    return visitors.visitor_from_cookie(cookie) or visitors.visitor_from_token(_query_token(scope))


# Off the event loop (with Redis a budget check is a network call) and off the one thread that
# database_sync_to_async work shares: a refused frame must not wait behind database work.
_handoff_wait = sync_to_async(limits.handoff_wait, thread_sensitive=False)
_message_wait = sync_to_async(limits.message_wait, thread_sensitive=False)
_is_penalised = sync_to_async(limits.is_penalised, thread_sensitive=False)
_penalise_flooding = sync_to_async(limits.penalise_flooding, thread_sensitive=False)
# The visitor's one conversation, as the key of its socket's typing throttle.
VISITOR_TYPING = "visitor"
# A render and a group send: no database either.
_user_typing = sync_to_async(handoff_live.user_typing, thread_sensitive=False)


class _FrameGate:
    """Takes the socket's frames as they arrive and passes the consumer those within
    FRAMES_PER_SECOND; past it, closes the socket and drops the rest unread.

    Counted here, not in receive(): Daphne reads and queues every frame (no backpressure) and
    a consumer takes one per turn of the event loop, so under a flood the rate receive() sees
    is the consumer's own, too slow to ever trip the limit.
    """

    def __init__(
        self,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        on_flood: Callable[[], Awaitable[None]],
    ) -> None:
        self._receive = receive
        self._send = send
        self._on_flood = on_flood
        self._window = limits.FrameWindow(FRAMES_PER_SECOND)
        self._passed: asyncio.Queue[ASGIReceiveEvent] = asyncio.Queue()
        self._closed = False

    async def receive(self) -> ASGIReceiveEvent:
        return await self._passed.get()

    async def pump(self) -> None:
        while True:
            # Returns without yielding while frames are queued: a backlog is drained at once.
            message = await self._receive()
            if message["type"] == "websocket.receive":
                if self._closed:
                    continue
                if not self._window.allow():
                    self._closed = True
                    await self._send(
                        WebSocketCloseEvent(
                            type="websocket.close", code=TOO_MANY_FRAMES, reason=None
                        )
                    )
                    await self._on_flood()
                    continue
            self._passed.put_nowait(message)
            if message["type"] == "websocket.disconnect":
                return


class VisitorConsumer(AsyncWebsocketConsumer):
    async def __call__(
        self, scope: Any, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        client = scope.get("client")
        self.address = client[0] if client else ""

        async def on_flood() -> None:
            await _penalise_flooding(address=self.address)

        gate = _FrameGate(receive, send, on_flood)
        pump = asyncio.ensure_future(gate.pump())
        try:
            await super().__call__(scope, gate.receive, send)
        finally:
            pump.cancel()

    async def dispatch(self, message: Any) -> None:
        # The visitor's notices and what this socket renders in the browser's language
        # (Accept-Language), as the web chat page itself.
        with translation.override(scope_language(self.scope)):
            await super().dispatch(message)

    async def connect(self) -> None:
        if await _is_penalised(address=self.address):
            await self.close(code=TOO_MANY_FRAMES)
            return
        visitor_id = _visitor_from_scope(self.scope)
        if visitor_id is None:
            await self.close(code=4403)
            return
        self.visitor_id = visitor_id
        self.typing = TypingThrottle()
        self.conversation_id: int | None = None
        self.language = visitors.language_from_header(scope_header(self.scope, b"accept-language"))
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
            await self._notice(
                gettext("Messages are limited to %(limit)s characters.")
                % {"limit": services.MAX_TEXT_LENGTH}
            )
            return
        try:
            data = json.loads(text_data)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            await self._notice(gettext("Sorry, that message could not be read."))
            return
        if data.get("action") == "typing":
            await self._typing()  # no answer: nothing the visitor must see
            return
        try:
            if data.get("action") == "handoff":
                if await _handoff_wait(address=self.address) is not None:
                    await self._notice(str(services.HANDOFFS_BUSY))
                    return
                await database_sync_to_async(services.request_person)(
                    visitor_id=self.visitor_id, language=self.language
                )
            elif data.get("action") == "rate":
                # A rating counts against the message budgets (one per handoff is stored).
                wait = await _message_wait(visitor_id=self.visitor_id, address=self.address)
                if wait is not None:
                    await self._notice(str(services.TOO_QUICKLY))
                    return
                await database_sync_to_async(services.rate_conversation)(
                    visitor_id=self.visitor_id,
                    handoff_id=data.get("handoff"),
                    score=data.get("score"),
                    comment=data.get("comment"),
                )
            else:
                wait = await _message_wait(visitor_id=self.visitor_id, address=self.address)
                if wait is not None:
                    await self._notice(str(services.TOO_QUICKLY))
                    return
                await database_sync_to_async(services.post_visitor_message)(
                    visitor_id=self.visitor_id, text=data.get("text")
                )
                self.typing.reset(VISITOR_TYPING)
        except services.VisitorError as error:
            await self._notice(str(error))
            return
        # The stored messages and status come back through the group, like any push.
        await self._notice("")

    async def _typing(self) -> None:
        """The visitor is typing: the agents showing their conversation see "typing…". At most
        one signal per TYPING_EVERY is taken (the page sends one every 3 s while typing); the
        rest is dropped before any query. Nothing is stored."""
        if not self.typing.allow(VISITOR_TYPING):
            return
        if self.conversation_id is None:  # none before the visitor's first message
            conversation = await database_sync_to_async(services.find_conversation)(self.visitor_id)
            if conversation is None:
                return
            self.conversation_id = conversation.pk
        await _user_typing(self.conversation_id)

    async def _notice(self, text: str) -> None:
        # No database access: a template render only.
        await self.send(text_data=live.render_notice(text))

    async def push_html(self, event: dict) -> None:
        await self.send(text_data=event["html"])
