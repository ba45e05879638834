"""The contact details column: who the user is, the user's ratings (CSAT), the handoff's
labels, the conversation's notes and its deletion.

Its fragments are rendered without a viewer (they are also pushed to every page showing the
conversation), so what depends on the agent, online or not, is left to the page's CSS
(.needs-online / .when-offline), as for the composer.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, OuterRef

from conversations.models import Note
from handoffs.models import ConversationDeletion, Handoff, Label
from handoffs.naming import flatten_variables, name_context, user_email
from handoffs.ratings import conversation_ratings

# Longer values (or any with a line break) are folded into a <details> element.
LONG_VALUE = 80


@dataclass(frozen=True)
class VariableLine:
    key: str
    value: str

    @property
    def long(self) -> bool:
        return len(self.value) > LONG_VALUE or "\n" in self.value


def user_details(end_user) -> dict:
    """The user's name, email and variables: no query (the end user is already loaded)."""
    return {
        "end_user": end_user,
        **name_context(end_user),
        "user_email": user_email(end_user),
        "user_variables": [VariableLine(k, v) for k, v in flatten_variables(end_user.variables)],
    }


def label_choices(handoff: Handoff) -> list[tuple[Label, bool]]:
    """Every label with whether the handoff carries it: one query."""
    carried = Handoff.labels.through.objects.filter(handoff_id=handoff.pk, label_id=OuterRef("pk"))
    return [(label, label.carried) for label in Label.objects.annotate(carried=Exists(carried))]


def latest_deletion(handoff: Handoff) -> ConversationDeletion | None:
    """The last deletion of this conversation's messages, if any.

    The audit row names the conversation by text (it outlives it), so match on the bot's
    name and the bot's thread id. Messages are deleted only once no handoff is active, so an
    active handoff needs no lookup.
    """
    if handoff.is_active:
        return None
    return (
        ConversationDeletion.objects.filter(
            bot_name=handoff.bot.name, conversation_ref=handoff.conversation.external_id
        )
        .select_related("deleted_by")
        .order_by("-created_at", "-pk")
        .first()
    )


def handoff_parts(handoff: Handoff) -> dict:
    """What belongs to this handoff (not the conversation): labels and deletion. 1-2 queries."""
    choices = label_choices(handoff)
    return {
        "handoff": handoff,
        "label_choices": choices,
        "carried_labels": [label for label, carried in choices if carried],
        "can_delete": settings.HITLNEXT_ENABLE_CONVERSATION_DELETION and not handoff.is_active,
        "deletion": latest_deletion(handoff),
    }


def conversation_notes(conversation_id: int) -> list[Note]:
    """The conversation's notes, oldest first, from all its handoffs: one query."""
    return list(
        Note.objects.filter(conversation_id=conversation_id).select_related("author").order_by("id")
    )


def contact_context(handoff: Handoff) -> dict:
    """Everything contact.html#contact needs, for a handoff loaded with its conversation's
    end user and its bot (handoffs.views.get_handoff_for_agent)."""
    conversation = handoff.conversation
    return {
        "conversation": conversation,
        **user_details(conversation.end_user),
        **handoff_parts(handoff),
        "notes": conversation_notes(conversation.pk),
        "ratings": conversation_ratings(conversation.pk),
    }
