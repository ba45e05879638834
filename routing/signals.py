"""What the routing app announces; higher apps (the web chat) listen.

- queue_moved(snapshot): the queue's order or the agents' places changed. Sent by the worker
  (routing/queue_live.py), at most every PUSH_EVERY seconds however busy the queue;
  `snapshot` is a routing.position.QueueSnapshot: the order, and places computed on demand.
"""

from __future__ import annotations

from django.dispatch import Signal

queue_moved = Signal()
