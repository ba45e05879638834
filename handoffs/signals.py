"""What the handoffs app announces, after commit; higher apps (the web chat, routing,
reports) listen, as does this app's own live module for the agents' pages.

- handoff_changed(handoff_id, previous_agent_id): created, assigned, transferred, resolved,
  rejected, expired, requeued, relabelled; previous_agent_id is the agent a transfer took it
  from (else None).
- message_added(message_id, message, webchat): a message joined a conversation. `message` is
  the row just committed (conversation and user loaded) when the sender has it, else None;
  `webchat` says whether it belongs to the web chat bot, or None when not known.
- handoff_rated(handoff_id, rating_id): the user rated a resolved handoff (handoffs.ratings).
- agent_typing(conversation_id, agent_id, user_id, webchat): the assignee is typing in the
  conversation's composer (handoffs.typing; throttled, never stored). `user_id` is the end
  user's id as the bot gave it, `webchat` whether the conversation is the web chat bot's.
"""

from __future__ import annotations

from django.dispatch import Signal

handoff_changed = Signal()
message_added = Signal()
handoff_rated = Signal()
agent_typing = Signal()
