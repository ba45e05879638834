"""The relay's locked read, compiled once (handoffs/relay_read.py): the same rows, values and
lock as the ORM query it was compiled from, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import psycopg
import pytest
from django.db import connection, transaction

from conversations.models import Conversation
from handoffs.models import Handoff
from handoffs.relay_read import locked_for_relay
from tests.factories import ConversationFactory, EndUserFactory, HandoffFactory, MessageFactory
from tests.workers import current_database_url

pytestmark = pytest.mark.django_db


def read(bot, conversation_id: str, external_id: str = "m-new"):
    with transaction.atomic():
        return locked_for_relay(bot=bot, conversation_id=conversation_id, external_id=external_id)


def test_an_unknown_conversation_is_none(bot, other_bot):
    ConversationFactory(bot=other_bot, external_id="th-1")  # another bot's thread of that id

    assert read(bot, "th-1") is None


def test_the_conversation_and_its_user_as_the_orm_loads_them(bot):
    user = EndUserFactory(bot=bot, variables={"fullName": "Ada", "plan": {"tier": "pro"}})
    conversation = ConversationFactory(bot=bot, end_user=user, external_id="th-2")

    found = read(bot, "th-2")

    expected = Conversation.objects.select_related("end_user").get(pk=conversation.pk)
    got = found.conversation
    for field in Conversation._meta.concrete_fields:
        assert getattr(got, field.attname) == getattr(expected, field.attname), field.name
    assert got.end_user.variables == {"fullName": "Ada", "plan": {"tier": "pro"}}
    assert got.end_user.created_at == expected.end_user.created_at
    assert got.end_user.created_at.tzinfo is not None
    assert got._state.adding is False and got.end_user._state.adding is False
    assert (found.active_handoff_pk, found.same_message_pk) == (None, None)


def test_it_names_the_active_handoff_and_a_message_already_stored(bot):
    conversation = ConversationFactory(bot=bot, external_id="th-3")
    HandoffFactory(conversation=conversation, status=Handoff.Status.RESOLVED)
    active = HandoffFactory(conversation=conversation, status=Handoff.Status.PENDING)
    stored = MessageFactory(conversation=conversation, external_id="m-1")

    found = read(bot, "th-3", external_id="m-1")

    assert (found.active_handoff_pk, found.same_message_pk) == (active.pk, stored.pk)
    assert read(bot, "th-3", external_id="m-2").same_message_pk is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite locks the whole database")
@pytest.mark.django_db(transaction=True)
def test_the_conversation_row_stays_locked_until_commit(bot):
    ConversationFactory(bot=bot, external_id="th-4")
    outcome: list[str] = []

    def another_request() -> None:
        with psycopg.connect(current_database_url()) as other:
            try:
                other.execute(
                    "SELECT id FROM conversations_conversation WHERE external_id = 'th-4' "
                    "FOR UPDATE NOWAIT"
                )
                outcome.append("got the row")
            except psycopg.errors.LockNotAvailable:
                outcome.append("waits")

    with transaction.atomic():
        assert locked_for_relay(bot=bot, conversation_id="th-4", external_id="m") is not None
        thread = threading.Thread(target=another_request)
        thread.start()
        thread.join(30)
    another_request()  # committed: free again

    assert outcome == ["waits", "got the row"]
