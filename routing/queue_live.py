"""Queue positions kept right live, at a bounded cost.

When a handoff joins or leaves the queue (or agents come online), everyone behind moves. Each
change only marks the queue as moved (a cache key: one write, whichever process made the
change); the worker, on its next pass and at most every PUSH_EVERY seconds, reads the queue's
order once and pushes:

- to every agent page showing pending handoffs (group "inbox.pending"), one compact fragment:
  the ids of the first INBOX_ORDER_MAX pending handoffs in queue order, from which inbox.js
  renumbers the pending items it shows (an item's own push carries its position too);
- to whoever listens to routing.signals.queue_moved: the web chat re-renders the place line
  of each visitor still waiting (one small render, about 70 us, and one group send each;
  the web chat's own budget, HITLNEXT_WEBCHAT_HANDOFFS, bounds how many wait).

So a burst of changes costs one read of the queue and one round of pushes per PUSH_EVERY
seconds, not one per change; the price is that a position may lag by up to a second or two.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache import cache
from django.utils.html import format_html

from handoffs.inbox_groups import PENDING_GROUP
from hitlnext_project.shared.push import announce, send_to_group
from routing import signals
from routing.position import QueueSnapshot

logger = logging.getLogger(__name__)

MOVED_KEY = "routing:queue-moved"
PUSH_EVERY = 1.0  # seconds between two rounds of pushes, at least
INBOX_ORDER_MAX = 1000  # ids in the inbox fragment: positions beyond keep their last number

_last_push = 0.0


def queue_moved(**_: Any) -> None:
    """Listener of handoffs.signals.handoff_changed and agents.signals.availability_changed."""
    try:
        cache.set(MOVED_KEY, 1, timeout=None)
    except Exception:  # a push is a nudge: pages catch up on reconnect
        logger.exception("could not mark the queue as moved")


def push_queue_positions() -> int:
    """The worker's timer: one round of pushes if the queue moved; returns 1 if it pushed."""
    global _last_push
    if time.monotonic() - _last_push < PUSH_EVERY:
        return 0
    # Cleared before reading the queue: a change committed after the read marks it again.
    if not cache.delete(MOVED_KEY):
        return 0
    _last_push = time.monotonic()
    snapshot = QueueSnapshot.take()
    send_to_group(PENDING_GROUP, render_inbox_order(snapshot))
    announce(signals.queue_moved, sender=QueueSnapshot, snapshot=snapshot)
    return 1


def render_inbox_order(snapshot: QueueSnapshot) -> str:
    return format_html(
        '<template id="queue-order" data-order="{}"></template>',
        " ".join(map(str, snapshot.order[:INBOX_ORDER_MAX])),
    )
