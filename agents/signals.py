"""What the agents app announces, after commit; higher apps (routing) listen.

- availability_changed(user_id): the agent may now take more handoffs than before: they went
  online, or their capacity or languages changed.
"""

from __future__ import annotations

from django.dispatch import Signal

availability_changed = Signal()
