from __future__ import annotations

import pytest

from conversations.models import Message, Note
from handoffs.erasure import delete_conversation_messages
from handoffs.errors import (
    ConversationDeletionDisabled,
    ConversationDeletionRefused,
    ConversationStillActive,
    HandoffError,
)
from handoffs.models import ConversationDeletion, Handoff
from tests.factories import ConversationFactory, HandoffFactory, MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(bot):
    conversation = ConversationFactory(bot=bot, external_id="th-9")
    MessageFactory.create_batch(3, conversation=conversation)
    return conversation


@pytest.fixture
def enabled(settings):
    settings.HITLNEXT_ENABLE_CONVERSATION_DELETION = True


def test_refused_when_the_setting_is_off(conversation, agent, settings):
    settings.HITLNEXT_ENABLE_CONVERSATION_DELETION = False
    HandoffFactory(conversation=conversation, status=Handoff.Status.RESOLVED)

    with pytest.raises(ConversationDeletionDisabled) as caught:
        delete_conversation_messages(conversation=conversation, agent=agent)

    assert isinstance(caught.value, HandoffError)
    assert conversation.messages.count() == 3
    assert not ConversationDeletion.objects.exists()


@pytest.mark.parametrize("status", [Handoff.Status.PENDING, Handoff.Status.ASSIGNED])
def test_refused_while_the_conversation_has_an_active_handoff(conversation, agent, enabled, status):
    HandoffFactory(conversation=conversation, status=Handoff.Status.RESOLVED)
    active = HandoffFactory(conversation=conversation, status=status)

    with pytest.raises(ConversationStillActive) as caught:
        delete_conversation_messages(conversation=conversation, agent=agent)

    assert isinstance(caught.value, ConversationDeletionRefused)
    assert f"#{active.pk}" in str(caught.value)
    assert conversation.messages.count() == 3
    assert not ConversationDeletion.objects.exists()


def test_deletes_messages_and_leaves_an_audit_line(conversation, agent, enabled, bot):
    handoff = HandoffFactory(
        conversation=conversation, status=Handoff.Status.RESOLVED, last_user_message="secret"
    )
    Note.objects.create(conversation=conversation, handoff=handoff, author=agent, text="n")
    other = ConversationFactory(bot=bot)
    MessageFactory(conversation=other)

    deletion = delete_conversation_messages(conversation=conversation, agent=agent)

    assert not conversation.messages.exists()
    assert Message.objects.filter(conversation=other).count() == 1
    assert deletion.message_count == 3
    assert deletion.deleted_by == agent
    assert deletion.conversation_ref == "th-9"
    assert deletion.bot_name == "Acme bot"
    assert deletion.created_at is not None
    assert ConversationDeletion.objects.count() == 1
    # The inbox's copy of the user's last words goes too; the team's notes stay.
    handoff.refresh_from_db()
    assert handoff.last_user_message == ""
    assert conversation.notes.count() == 1


def test_works_for_a_conversation_that_never_had_a_handoff(conversation, agent, enabled):
    deletion = delete_conversation_messages(conversation=conversation, agent=agent)

    assert deletion.message_count == 3


def test_deleting_twice_records_zero_the_second_time(conversation, agent, enabled):
    delete_conversation_messages(conversation=conversation, agent=agent)
    second = delete_conversation_messages(conversation=conversation, agent=agent)

    assert second.message_count == 0
    assert ConversationDeletion.objects.count() == 2
