"""Typing indicators: "typing…" both ways, throttled, never stored.

- The user types (the web chat visitor's socket, a bot's POST /api/v1/typing): the pages
  showing the conversation show it (handoffs.live.user_typing).
- The assignee types in the composer (the agent page's socket, action "typing"): announced as
  handoffs.signals.agent_typing; the web chat shows it to its visitor (webchat/live.py).
  Only the assignee's typing is announced: watchers cannot write to the user, so their typing
  tells the user nothing.

Pages send a signal at most every few seconds while typing and hide "typing…" a few seconds
after the last one (static/hitlnext/js/typing.js, webchat/static/webchat/chat.js). The server
drops what comes faster, per sender and conversation: in memory per socket (TypingThrottle),
in the cache for the bot API; nothing reaches the database but the checks of who may type.
"""

from __future__ import annotations

import time

from django.contrib.auth.models import User

from handoffs.models import Handoff
from handoffs.signals import agent_typing
from hitlnext_project.shared.push import announce

# The pages send one signal per TYPING_EVERY_MS (3 s) while typing, and hide "typing…"
# TYPING_SHOWN_MS (6 s) after the last one; a little less than 3 s here, so a page's signals
# arriving with some jitter are not dropped.
TYPING_EVERY = 2.5


class TypingThrottle:
    """A socket's own throttle: at most one typing signal per TYPING_EVERY per conversation."""

    def __init__(self, every: float = TYPING_EVERY) -> None:
        self.every = every
        self._last: dict[int | str, float] = {}

    def allow(self, key: int | str) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, -self.every) < self.every:
            return False
        if len(self._last) > 64:  # a socket follows a few conversations at most
            self._last = {k: t for k, t in self._last.items() if now - t < self.every}
        self._last[key] = now
        return True

    def reset(self, key: int | str) -> None:
        """The sender's message went out: what they type next is a new message, told at once
        (the pages reset their own throttle on sending too)."""
        self._last.pop(key, None)


def announce_agent_typing(*, agent: User, conversation_id: int) -> bool:
    """The agent types in the conversation's composer: announced if they are its active
    handoff's assignee (one query), else ignored. Whether it was announced."""
    row = (
        Handoff.objects.filter(
            conversation_id=conversation_id, status=Handoff.Status.ASSIGNED, agent=agent
        )
        .values_list("conversation__bot__is_webchat", "conversation__end_user__external_id")
        .first()
    )
    if row is None:
        return False
    webchat, user_id = row
    announce(
        agent_typing,
        sender=Handoff,
        conversation_id=conversation_id,
        agent_id=agent.pk,
        user_id=user_id,
        webchat=webchat,
    )
    return True
