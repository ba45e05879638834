"""POST /api/v1/messages: relaying the conversation, and `paused` through a handoff's life."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from conversations.models import Conversation, Message
from handoffs import services
from handoffs.models import Handoff
from tests.api_support import BotApi, assert_error, handoff_body, message_body
from tests.factories import HandoffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, bot):
    return BotApi(client, bot.api_key)


def relayed(bot) -> list[tuple[str, str, str]]:
    return list(
        Message.objects.filter(conversation__bot=bot)
        .exclude(direction=Message.Direction.SYSTEM)
        .values_list("external_id", "direction", "text")
    )


def test_relay_stores_the_message_and_says_not_paused_without_handoff(api, bot):
    response = api.post(
        "/messages", message_body(created_at="2026-03-01T09:30:00+01:00", user_id="u-7")
    )

    assert response.status_code == 201
    message = Message.objects.get()
    assert response.json() == {"id": f"msg_{message.pk}", "handoff": None, "paused": False}
    assert relayed(bot) == [("m-1", "incoming", "Hello?")]
    assert message.created_at == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    assert message.conversation.end_user.external_id == "u-7"
    assert message.conversation.channel == "whatsapp"


def test_resending_the_same_bot_message_id_stores_nothing_twice(api, bot):
    first = api.post("/messages", message_body())
    again = api.post("/messages", message_body(text="Hello? (edited)"))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert relayed(bot) == [("m-1", "incoming", "Hello?")]


def test_the_same_message_id_in_another_conversation_is_another_message(api, bot):
    api.post("/messages", message_body())
    response = api.post("/messages", message_body(conversation_id="th-43"))

    assert response.status_code == 201
    assert len(relayed(bot)) == 2


def test_a_payload_without_text_is_accepted(api):
    payload = {"type": "image", "url": "https://example.com/cat.png"}

    response = api.post("/messages", message_body(text=None, payload=payload))

    assert response.status_code == 201
    assert Message.objects.get().payload == payload


@pytest.mark.parametrize(
    "overrides",
    [{"text": ""}, {"text": "   "}, {"text": None}, {"text": "", "payload": {}}, {}],
    ids=["empty", "blank", "null", "empty-payload", "absent"],
)
def test_a_message_needs_text_or_payload(api, overrides):
    body = {k: v for k, v in message_body().items() if k != "text"} | overrides

    assert_error(api.post("/messages", body), 422, "text")
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"id": ""}, "id"),
        ({"id": "x" * 256}, "id"),
        ({"direction": "agent"}, "direction"),
        ({"conversation_id": None}, "conversation_id"),
        ({"channel": ""}, "channel"),
        ({"payload": "a string"}, "payload"),
        ({"created_at": "not a date"}, "created_at"),
    ],
)
def test_invalid_message_fields_are_named(api, overrides, field):
    assert_error(api.post("/messages", message_body(**overrides)), 422, field)


def test_paused_follows_the_handoff_from_pending_to_resolved(api, agent):
    handoff_id = api.post("/handoffs", handoff_body()).json()["id"]
    handoff = Handoff.objects.get(pk=handoff_id)

    pending = api.post("/messages", message_body(id="m-1")).json()
    services.assign_handoff(handoff=handoff, agent=agent)
    assigned = api.post("/messages", message_body(id="m-2")).json()
    services.resolve_handoff(handoff=handoff, agent=agent)
    resolved = api.post("/messages", message_body(id="m-3")).json()

    assert (pending["paused"], pending["handoff"]) == (
        True,
        {"id": handoff_id, "status": "pending"},
    )
    assert (assigned["paused"], assigned["handoff"]) == (
        True,
        {"id": handoff_id, "status": "assigned"},
    )
    assert (resolved["paused"], resolved["handoff"]) == (False, None)


def test_paused_is_false_after_the_bot_rejects(api):
    handoff_id = api.post("/handoffs", handoff_body()).json()["id"]
    assert api.post("/messages", message_body(id="m-1")).json()["paused"] is True

    api.post(f"/handoffs/{handoff_id}/reject")

    assert api.post("/messages", message_body(id="m-2")).json()["paused"] is False


def test_an_incoming_message_updates_the_handoffs_preview(api):
    handoff_id = api.post("/handoffs", handoff_body()).json()["id"]

    api.post("/messages", message_body(text="Where is my parcel?"))

    assert Handoff.objects.get(pk=handoff_id).last_user_message == "Where is my parcel?"


def test_another_bots_conversation_with_the_same_id_is_untouched(api, bot, other_bot):
    theirs = HandoffFactory(conversation__bot=other_bot, conversation__external_id="th-42")

    response = api.post("/messages", message_body())

    assert response.json()["paused"] is False
    assert not theirs.conversation.messages.exists()
    assert Conversation.objects.filter(bot=bot, external_id="th-42").exists()


@pytest.mark.parametrize("created_at", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"])
def test_a_timestamp_outside_the_storable_range_is_422(api, created_at):
    assert_error(api.post("/messages", message_body(created_at=created_at)), 422, "created_at")
