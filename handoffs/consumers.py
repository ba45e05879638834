"""The agent pages' websocket: one per page, forwarding pre-rendered pushes.

The page says hello on every (re)connect and names the conversation it shows; the answer is
the current state (presence, the conversation's head and any messages and notes the page
missed), so nothing is lost while the socket was down, nor between the panel's rendering and
the socket joining the conversation.

The socket also records its agent as a viewer of the conversation it shows, for the other
watchers' "Also viewing" (handoffs/viewers.py), and joins the groups of higher apps' pages that
ask for one (register_page_group: the reports' wallboard), for the agents those apps allow.

The socket stays only as long as its session signs the agent in (agents/revocation.py): it is
checked again on every action the page sends, when the agent's access is revoked, and on a
push at most once a minute.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.utils import translation

from agents import live as presence
from agents import revocation
from agents.middleware import profile_language
from agents.services import profile_for, record_activity
from conversations.models import Note
from handoffs import inbox_groups, live, viewers
from handoffs.inbox import DEFAULT_STATUSES
from handoffs.messaging import mark_conversation_read
from handoffs.models import Handoff
from handoffs.typing import TypingThrottle, announce_agent_typing
from hitlnext_project.shared.http import scope_language
from hitlnext_project.shared.ids import parse_id

FORBIDDEN = 4403
# The session this socket opened with is gone (logged out, expired, or re-keyed by the agent's
# own password change, update_session_auth_hash): the page reconnects (live-socket.js retries
# any other code than 4403) with the cookie it holds now, and connect() decides.
RECONNECT = 4000
# Pushes are forwarded without touching the database, for fan-out to many sockets; a revocation
# announcement the channel layer dropped is caught by re-checking the session on the first push
# after this many seconds: at most one check per socket per minute.
RECHECK_EVERY = 60.0
# The page sends only small JSON control messages (hello, watch, activity, read, typing) plus the
# HEADERS htmx adds: a few hundred bytes. Bigger frames, or binary ones, close the socket with
# 4413 (as HTTP's 413), which htmx does not retry. Not RFC 6455's 1009: Daphne (autobahn) may
# only send 1000 or 3000-4999, so a 1009 raised and the socket ended with 1011, which htmx
# does retry.
MAX_FRAME_BYTES = 16 * 1024
MESSAGE_TOO_BIG = 4413
# Past this many missed messages (or notes) the page reloads the panel instead of appending.
CATCH_UP_LIMIT = 200
# The ids of the latest messages (and notes) a page shows, sent with its hello and watch: at
# most this many (well within MAX_FRAME_BYTES).
SHOWN_MAX = 100
RELOAD_PANEL = '<template id="conversation-reload" data-reload="#conversation"></template>'
# The answer to a page telling what its inbox shows, once the socket is in those groups: the
# page re-fetches its list only then, so a change between the list's rendering and the join
# is pushed rather than missed (live-updates.js).
INBOX_JOINED = '<template id="inbox-joined"></template>'
# A burst of pushes of one inbox item (a user typing fast, a bot relaying a batch) reaches the
# page as the first push at once and the latest one when this much time has passed since:
# each frame costs a send here and a swap in the browser.
ITEM_EVERY = 0.2
# Pushes of one item to several of the socket's groups: the ids of the last few forwarded.
SEEN_PUSHES = 64

logger = logging.getLogger(__name__)


# What higher apps show in the header too (routing: the agent's load), rendered for a user.
_header_parts: list[Callable[[User], str]] = []


def register_header_part(render: Callable[[User], str]) -> None:
    """Send `render(user)` with the header's state on every hello (idempotent)."""
    if render not in _header_parts:
        _header_parts.append(render)


# Pages of higher apps with a group of their own (reports: the wallboard): the page sends
# {"action": <action>}; the socket joins `group` if may_join(user), checked again on that action
# and on every hello, and is answered state() (the catch-up).
_page_groups: dict[str, tuple[str, Callable[[User], bool], Callable[[], str]]] = {}


def register_page_group(
    action: str, *, group: str, may_join: Callable[[User], bool], state: Callable[[], str]
) -> None:
    """Let a page join `group` by sending {"action": action} (idempotent)."""
    _page_groups[action] = (group, may_join, state)


def presence_state(user: User) -> str:
    """The header as it is now: this agent's switch, who is online, and the parts higher apps
    registered."""
    html = presence.render_switch(profile_for(user)) + presence.render_online_agents()
    return html + "".join(render(user) for render in _header_parts)


def conversation_state(
    handoff_id: int,
    after: int | None,
    notes_after: int | None = None,
    *,
    shown: list[int] | None = None,
    notes_shown: list[int] | None = None,
) -> tuple[int | None, str]:
    """(conversation id, catch-up HTML) for a page showing this handoff; (None, "") if unknown.

    `after` / `notes_after`: the newest message / note the page shows (0: it shows none yet;
    None: it did not say, nothing to catch up). `shown` / `notes_shown`: the ids of the latest
    ones it shows; those it lacks between them are sent too. A push lost while a later one
    arrived (Redis restarting, a server killed between its commit and its push) leaves such a
    gap, which "newer than the newest" never fills. Every agent may watch every handoff, as
    every agent may open it (handoffs.views).
    """
    handoff = (
        Handoff.objects.select_related("conversation__end_user", "agent")
        .filter(pk=handoff_id)
        .first()
    )
    if handoff is None:
        return None, ""
    html: str = render_to_string("handoffs/conversation.html#head", {"handoff": handoff})
    if after is not None:
        missed = list(
            _missing(handoff.conversation.messages.all(), after, shown)
            .select_related("author")
            .order_by("id")[: CATCH_UP_LIMIT + 1]
        )
        if len(missed) > CATCH_UP_LIMIT:
            return handoff.conversation_id, html + RELOAD_PANEL
        if missed:
            html += live.render_messages_push(missed, conversation=handoff.conversation)
    if notes_after is not None:
        notes = list(
            _missing(
                Note.objects.filter(conversation_id=handoff.conversation_id),
                notes_after,
                notes_shown,
            )
            .select_related("author")
            .order_by("id")[: CATCH_UP_LIMIT + 1]
        )
        if len(notes) > CATCH_UP_LIMIT:
            return handoff.conversation_id, html + RELOAD_PANEL
        if notes:
            # The same fragment as a note's push and the adding agent's answer: the page shows
            # each note once whichever of them arrives first (dedupe.js).
            html += render_to_string(
                "handoffs/notes.html#append",
                {"notes": notes, "conversation_id": handoff.conversation_id},
            )
    return handoff.conversation_id, html


def _missing(rows: QuerySet, after: int, shown: list[int] | None) -> QuerySet:
    """The rows newer than `after`, and those between the `shown` ids that are not shown."""
    if not shown:
        return rows.filter(pk__gt=after)
    return rows.filter(Q(pk__gt=after) | Q(pk__gt=min(shown))).exclude(pk__in=shown)


def _shown_ids(value: object) -> list[int] | None:
    """A page's list of the ids it shows (at most SHOWN_MAX, the latest), or None."""
    if not isinstance(value, list):
        return None
    ids = [i for i in (parse_id(v) for v in value[-SHOWN_MAX:]) if i is not None]
    return ids or None


def _last_shown(value: object) -> int | None:
    """A page's "newest id I show": an id, 0 for none yet, None when absent or malformed."""
    if value == 0 and not isinstance(value, bool):
        return 0
    return parse_id(value)


class AgentConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        self.joined: list[str] = []
        self.watching: int | None = None
        self.inbox_view: set[str] = set()
        self.item_sent: dict[int, float] = {}  # inbox item -> when it was last forwarded
        self.item_held: dict[int, str] = {}  # inbox item -> its latest push, waiting
        self.seen_pushes: deque[str] = deque(maxlen=SEEN_PUSHES)
        self.releases: set[asyncio.Task] = set()
        self.typing = TypingThrottle()
        # isinstance sees through the scope's lazy proxy to the User it wraps (None, anonymous:
        # refused).
        if not (isinstance(user, User) and user.is_authenticated and user.is_active):
            # Accept, then close with 4403: the page sees the code (a refused handshake looks
            # like 1006, which htmx would retry forever) and sends the visitor to the login.
            await self.accept()
            await self.close(code=FORBIDDEN)
            return
        self.user: User = user
        self.session_key: str = self.scope["session"].session_key or ""
        self.checked_at: float = time.monotonic()
        # What this socket renders (catch-up, refusals) is in the agent's page language, as
        # their pages are: the profile's choice, else the browser's (dispatch applies it).
        chosen = await database_sync_to_async(profile_language)(user)
        self.page_language: str = chosen or scope_language(self.scope)
        translation.activate(self.page_language)
        # Until the page says what its inbox shows (hello), the default filters'.
        self.inbox_view = inbox_groups.view_groups(DEFAULT_STATUSES, user.pk)
        groups = [inbox_groups.INBOX_GROUP, presence.PRESENCE_GROUP, presence.agent_group(user.pk)]
        await self._join([*groups, *self.inbox_view])
        await self.accept()

    async def _join(self, groups: list[str]) -> None:
        # At once, not one after the other: a round trip to Redis each, and Daphne drops a
        # socket its application has not accepted within 5 s (a burst of pages connecting).
        await asyncio.gather(*(self.channel_layer.group_add(g, self.channel_name) for g in groups))
        self.joined += [g for g in groups if g not in self.joined]

    async def _leave(self, groups: list[str]) -> None:
        await asyncio.gather(
            *(self.channel_layer.group_discard(g, self.channel_name) for g in groups)
        )
        self.joined = [g for g in self.joined if g not in groups]

    async def disconnect(self, code: int) -> None:
        if self.watching is not None:
            watching, self.watching = self.watching, None
            await database_sync_to_async(viewers.stop_viewing)(watching, self.channel_name)
        await self._leave(list(self.joined))
        self.inbox_view = set()
        self.item_held.clear()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.joined:
            return
        if bytes_data is not None or len((text_data or "").encode()) > MAX_FRAME_BYTES:
            # The page only sends small control messages: anything else is not our page.
            await self.close(code=MESSAGE_TOO_BIG)
            return
        try:
            data = json.loads(text_data or "")
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        if not await self._still_signed_in():
            return
        action = data.get("action")
        if action == "hello":
            # Group membership expires (channels' group_expiry, a day) counted from the join;
            # the page says hello again every half hour, which renews it.
            await self._leave_page_groups_not_allowed()
            if "inbox" in data:
                await self._show_inbox(data["inbox"])
            await self._join(list(self.joined))
            state = await database_sync_to_async(presence_state)(self.user)
            await self.send(text_data=state + (INBOX_JOINED if data.get("refresh") else ""))
            await self._renew_viewing()
            await self._watch(data)
        elif action == "inbox":
            await self._show_inbox(data.get("statuses"))
            await self.send(text_data=INBOX_JOINED)
        elif action == "watch":
            await self._watch(data)
        elif action == "activity":
            await database_sync_to_async(record_activity)(agent=self.user)
            await self._renew_viewing()
        elif action == "typing" and self.watching is not None:
            # The agent types in the composer of the conversation this page shows: announced
            # for the user's side if they are its assignee (handoffs/typing.py); a burst faster
            # than the pages send is dropped here, before any query.
            if self.typing.allow(self.watching):
                await database_sync_to_async(announce_agent_typing)(
                    agent=self.user, conversation_id=self.watching
                )
        elif action == "read" and self.watching is not None:
            await database_sync_to_async(mark_conversation_read)(
                agent=self.user, conversation_id=self.watching
            )
        elif isinstance(action, str) and action in _page_groups:
            await self._join_page_group(action)

    async def _show_inbox(self, statuses: object) -> None:
        """Be in the inbox groups of this view (the filter's status values), and no others."""
        if not isinstance(statuses, list | tuple) or len(statuses) > 16:
            return
        known = [s for s in statuses if isinstance(s, str) and s in inbox_groups.VIEW_STATUSES]
        wanted = inbox_groups.view_groups(known, self.user.pk)
        await self._join(sorted(wanted - self.inbox_view))
        await self._leave(sorted(self.inbox_view - wanted))
        self.inbox_view = wanted

    async def _join_page_group(self, action: str) -> None:
        group, may_join, state = _page_groups[action]
        if not await database_sync_to_async(may_join)(self.user):
            return
        if group not in self.joined:
            await self._join([group])
        await self.send(text_data=await database_sync_to_async(state)())

    async def _leave_page_groups_not_allowed(self) -> None:
        for group, may_join, _ in _page_groups.values():
            if group in self.joined and not await database_sync_to_async(may_join)(self.user):
                await self._leave([group])

    async def _renew_viewing(self) -> None:
        if self.watching is not None:
            await database_sync_to_async(viewers.renew)(
                self.watching, self.channel_name, self.user.pk
            )

    async def _watch(self, data: dict) -> None:
        handoff_id = parse_id(data.get("handoff"))
        if handoff_id is None:
            await self._switch_conversation(None)
            return
        # Look the handoff up first only for its conversation; then join before reading the
        # state, so a message or note committed in between is pushed rather than missed
        # (duplicates are dropped by the page, by id).
        conversation_id = await database_sync_to_async(
            Handoff.objects.filter(pk=handoff_id).values_list("conversation_id", flat=True).first
        )()
        await self._switch_conversation(conversation_id)
        if conversation_id is None:
            return
        _, html = await database_sync_to_async(conversation_state)(
            handoff_id,
            _last_shown(data.get("after")),
            _last_shown(data.get("notes_after")),
            shown=_shown_ids(data.get("shown")),
            notes_shown=_shown_ids(data.get("notes_shown")),
        )
        if html:
            await self.send(text_data=html)

    async def _switch_conversation(self, conversation_id: int | None) -> None:
        if conversation_id == self.watching:
            return
        # Join the new conversation before leaving the old one: no push falls in between.
        if conversation_id is not None:
            await self._join([live.conversation_group(conversation_id)])
        if self.watching is not None:
            await self._leave([live.conversation_group(self.watching)])
        previous, self.watching = self.watching, conversation_id
        # Who else is viewing: both conversations' watchers see the change.
        if previous is not None:
            await database_sync_to_async(viewers.stop_viewing)(previous, self.channel_name)
        if conversation_id is not None:
            await database_sync_to_async(viewers.start_viewing)(
                conversation_id, self.channel_name, self.user.pk
            )

    async def dispatch(self, message: dict) -> None:
        # Channels' dispatch hops to a thread (close_old_connections) before every handler;
        # push_html only forwards pre-rendered HTML and touches no database, so a push to
        # many sockets skips that hop. Every other message takes the normal path.
        if message.get("type") == "push.html":
            if not self.joined:  # closed: drop what was queued before
                return
            if time.monotonic() - self.checked_at >= RECHECK_EVERY:
                if not await self._still_signed_in():
                    return
            if "item" in message:
                await self._forward_item(message)
            else:
                await self.push_html(message)
            return
        with translation.override(getattr(self, "page_language", None)):
            await super().dispatch(message)

    async def _forward_item(self, message: dict) -> None:
        """An inbox item's push: once, however many of its groups this socket is in, and of a
        burst, the first at once and then the latest every ITEM_EVERY seconds."""
        push_id = message.get("push")
        if push_id is not None:
            if push_id in self.seen_pushes:
                return
            self.seen_pushes.append(push_id)
        item, html = message["item"], message["html"]
        if item in self.item_held:
            self.item_held[item] = html  # the latest replaces the one waiting
            return
        now = time.monotonic()
        since = now - self.item_sent.get(item, -ITEM_EVERY)
        if since >= ITEM_EVERY:
            self._item_forwarded(item, now)
            await self.push_html(message)
            return
        self.item_held[item] = html
        asyncio.get_running_loop().call_later(ITEM_EVERY - since, self._release_item, item)

    def _release_item(self, item: int) -> None:
        html = self.item_held.pop(item, None)
        if html is None or not self.joined:  # closed meanwhile
            return
        self._item_forwarded(item, time.monotonic())
        task = asyncio.ensure_future(self.push_html({"html": html}))
        self.releases.add(task)  # a reference until it is done
        task.add_done_callback(self.releases.discard)

    def _item_forwarded(self, item: int, at: float) -> None:
        self.item_sent[item] = at
        if len(self.item_sent) > 512:  # only the recent ones matter
            self.item_sent = {i: t for i, t in self.item_sent.items() if at - t < ITEM_EVERY}

    async def push_html(self, event: dict) -> None:
        try:
            await self.send(text_data=event["html"])
        except Exception:
            # The socket closed while this push was on its way (Daphne raises on a send to a
            # closed connection). Dropped: raising would end this consumer before its
            # disconnect, which leaves the groups and stops "viewing" the conversation.
            logger.debug("push to a closed socket dropped", exc_info=True)

    async def session_ended(self, event: dict) -> None:
        if self.joined and self.session_key == event.get("session_key"):
            await self._end(FORBIDDEN)

    async def user_revoked(self, event: dict) -> None:
        if self.joined:
            await self._still_signed_in()

    async def _still_signed_in(self) -> bool:
        """Whether this socket's session still signs its agent in; if not, the socket is
        closed and the caller does nothing more."""
        user = await database_sync_to_async(revocation.signed_in_user)(self.session_key)
        if user is not None and user.pk == self.user.pk:
            self.user, self.checked_at = user, time.monotonic()
            return True
        gone = not await database_sync_to_async(revocation.session_exists)(self.session_key)
        await self._end(RECONNECT if gone and user is None else FORBIDDEN)
        return False

    async def _end(self, code: int) -> None:
        # Leave the groups now, not when the client acknowledges the close: nothing more is
        # forwarded to this socket.
        await self.disconnect(code)
        await self.close(code=code)
