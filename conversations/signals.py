"""What the conversations app announces, after commit; higher apps listen.

- contact_changed(conversation_id, name_changed): a user's variables changed.
"""

from __future__ import annotations

from django.dispatch import Signal

contact_changed = Signal()
