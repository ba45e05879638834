"""Deleting a finished conversation's messages (HITLNEXT_ENABLE_CONVERSATION_DELETION)."""

from __future__ import annotations

from functools import partial

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from agents.services import require_online
from conversations.attachments import remove_files_with
from conversations.models import Conversation, Message
from handoffs import live
from handoffs.errors import (
    ConversationDeletionDisabled,
    ConversationStillActive,
)
from handoffs.models import ConversationDeletion, Handoff
from handoffs.steps import (
    announce_handoff_changed,
)


def delete_conversation_messages(
    *, conversation: Conversation, agent: User
) -> ConversationDeletion:
    """Delete a finished conversation's messages, leaving an audit line (who, when, how many).

    Notes stay: they are the team's record about the conversation, not the user's messages.
    """
    if not settings.HITLNEXT_ENABLE_CONVERSATION_DELETION:
        raise ConversationDeletionDisabled()
    require_online(agent)
    with transaction.atomic():
        # The same row lock ensure_conversation takes: a handoff or message arriving for this
        # conversation waits until the deletion commits, and we see any handoff it committed.
        conversation = (
            Conversation.objects.select_for_update().select_related("bot").get(pk=conversation.pk)
        )
        active = conversation.handoffs.filter(status__in=Handoff.ACTIVE).first()
        if active is not None:
            raise ConversationStillActive(active.pk)
        remove_files_with(conversation.messages.all())
        _, deleted = conversation.messages.all().delete()
        count = deleted.get(Message._meta.label, 0)
        # The inbox keeps a copy of the last user message; it goes with the messages.
        handoff_ids = list(conversation.handoffs.values_list("pk", flat=True))
        Handoff.objects.filter(pk__in=handoff_ids).update(last_user_message="")
        deletion = ConversationDeletion.objects.create(
            conversation_ref=conversation.external_id,
            bot_name=conversation.bot.name,
            deleted_by=agent,
            message_count=count,
        )
        for handoff_id in handoff_ids:
            announce_handoff_changed(handoff_id)
        transaction.on_commit(partial(live.conversation_deleted, conversation.pk))
    return deletion
