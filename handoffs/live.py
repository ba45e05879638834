"""Real-time pushes to agents' pages. Services call these from transaction.on_commit.

Each function renders its fragment once and sends it to the relevant group; consumers only
forward the HTML. A push is a nudge: pages re-sync from the database on (re)connect.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def send_to_group(group: str, html: str) -> None:
    layer = get_channel_layer()
    if layer is None or not html:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "push.html", "html": html})
    except Exception:  # a push is best effort; the database already holds the truth
        logger.exception("live push to %s failed", group)


def handoff_changed(handoff_id: int) -> None:
    """An inbox item appeared or changed (status, assignee, labels, last message)."""
    from conversations.webchat_live import visitor_handoff_changed  # lazy: avoids a cycle

    visitor_handoff_changed(handoff_id)


def message_added(message_id: int) -> None:
    """A message joined a conversation: agents watching it see it appear."""
    from conversations.webchat_live import visitor_message_added  # lazy: avoids a cycle

    visitor_message_added(message_id)


def note_added(note_id: int) -> None:
    """A note was added to a conversation."""


def presence_changed(user_id: int) -> None:
    """An agent went online or offline."""
