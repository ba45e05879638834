"""POST/GET /api/v1/handoffs and the reject endpoint, with their access matrix."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from conversations.models import Message
from handoffs import services
from handoffs.models import Handoff
from tests.api_support import BotApi, assert_error, handoff_body
from tests.factories import HandoffFactory, LabelFactory
from webhooks.models import Event

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def api(client, bot):
    return BotApi(client, bot.api_key)


@pytest.fixture
def other_handoff(other_bot):
    return HandoffFactory(conversation__bot=other_bot)


def test_start_handoff_creates_it_with_everything_the_bot_sent(api, bot):
    LabelFactory(name="shipping")
    body = handoff_body(
        language="fr",
        user={"fullName": "Ada L.", "plan": "gold"},
        history=[
            {
                "id": "m2",
                "direction": "outgoing",
                "text": "How can I help?",
                "created_at": "2026-03-01T11:59:00Z",
            },
            {
                "id": "m1",
                "direction": "incoming",
                "text": "",
                "payload": {"type": "image", "url": "https://example.com/a.png"},
                "created_at": "2026-03-01T11:58:00+00:00",
            },
        ],
        timeout_seconds=300,
        labels=["shipping"],
    )
    with time_machine.travel(NOW, tick=False):
        response = api.post("/handoffs", body)

    assert response.status_code == 201
    handoff = Handoff.objects.get()
    assert response.json() == {
        "id": handoff.pk,
        "status": "pending",
        "conversation_id": "th-42",
        "user_id": "u-7",
        "channel": "whatsapp",
        "language": "fr",
        "priority": "normal",
        "labels": ["shipping"],
        "agent": None,
        "created_at": "2026-03-01T12:00:00Z",
        "assigned_at": None,
        "resolved_at": None,
        "expires_at": "2026-03-01T12:05:00Z",
        # First in the queue; nobody online and no history: the wait is not known.
        "queue": {"position": 1, "estimated_wait_seconds": None, "agents_online": 0},
    }
    assert handoff.bot == bot
    assert handoff.conversation.end_user.variables == {"fullName": "Ada L.", "plan": "gold"}
    history = list(
        handoff.conversation.messages.exclude(direction=Message.Direction.SYSTEM).values_list(
            "external_id", "direction", "payload"
        )
    )
    assert history == [
        ("m1", "incoming", {"type": "image", "url": "https://example.com/a.png"}),
        ("m2", "outgoing", {}),
    ]
    assert list(Event.objects.filter(bot=bot).values_list("type", flat=True)) == [
        "handoff.created",
        "message.created",
    ]


def test_start_handoff_defaults_to_bot_language_and_no_expiry(api, bot):
    bot.default_language = "es"
    bot.save()

    response = api.post("/handoffs", handoff_body(timeout_seconds=0))

    assert response.status_code == 201
    assert response.json()["language"] == "es"
    assert response.json()["expires_at"] is None


def test_asking_again_returns_the_active_handoff_with_200(api):
    first = api.post("/handoffs", handoff_body())
    again = api.post("/handoffs", handoff_body(user_id="u-7", labels=[]))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Handoff.objects.count() == 1
    assert Event.objects.filter(type="handoff.created").count() == 1


def test_a_resolved_conversation_gets_a_new_handoff(api, agent):
    first = api.post("/handoffs", handoff_body()).json()
    handoff = Handoff.objects.get(pk=first["id"])
    services.assign_handoff(handoff=handoff, agent=agent)
    services.resolve_handoff(handoff=handoff, agent=agent)

    response = api.post("/handoffs", handoff_body())

    assert response.status_code == 201
    assert response.json()["id"] != first["id"]


def test_timeout_is_capped_at_30_days(api):
    with time_machine.travel(NOW, tick=False):
        response = api.post("/handoffs", handoff_body(timeout_seconds=10**12))

    assert response.status_code == 201
    assert response.json()["expires_at"] == "2026-03-31T12:00:00Z"


def test_numeric_ids_are_taken_as_strings(api):
    response = api.post("/handoffs", handoff_body(conversation_id=123456789, user_id=42))

    assert response.status_code == 201
    assert response.json()["conversation_id"] == "123456789"
    assert response.json()["user_id"] == "42"


def test_history_timestamps_without_offset_are_utc_and_empty_items_are_skipped(api):
    history = [
        {"id": "a", "direction": "incoming", "text": "hi", "created_at": "2026-03-01T10:00:00"},
        {"id": "b", "direction": "outgoing", "text": "  ", "payload": {}},
    ]
    api.post("/handoffs", handoff_body(history=history))

    stored = Message.objects.exclude(direction=Message.Direction.SYSTEM)
    assert [(m.external_id, m.created_at) for m in stored] == [
        ("a", datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    ]


def test_user_variables_up_to_16_kib_are_accepted(api):
    # {"v":"xxx..."} serialised: 8 bytes of syntax plus the value.
    user = {"v": "x" * (16 * 1024 - 8)}

    assert api.post("/handoffs", handoff_body(user=user)).status_code == 201


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"conversation_id": ""}, "conversation_id"),
        ({"conversation_id": "x" * 256}, "conversation_id"),
        ({"user_id": None}, "user_id"),
        ({"channel": "c" * 65}, "channel"),
        ({"language": "x" * 17}, "language"),
        ({"user": ["not", "an", "object"]}, "user"),
        ({"user": {"v": "x" * (16 * 1024)}}, "user"),
        ({"timeout_seconds": -1}, "timeout_seconds"),
        ({"timeout_seconds": "soon"}, "timeout_seconds"),
        ({"labels": "shipping"}, "labels"),
        ({"labels": ["no-such-label"]}, "labels"),
        ({"history": [{"id": "m1", "direction": "incoming"}] * 201}, "history"),
        ({"history": [{"direction": "incoming", "text": "hi"}]}, "history.0.id"),
        ({"history": [{"id": "m1", "direction": "sideways"}]}, "history.0.direction"),
        (
            {"history": [{"id": "m1", "direction": "incoming", "created_at": "yesterday"}]},
            "history.0.created_at",
        ),
        ({"history": [{"id": "m1", "direction": "incoming", "payload": 3}]}, "history.0.payload"),
    ],
)
def test_invalid_fields_are_named(api, overrides, field):
    response = api.post("/handoffs", handoff_body(**overrides))

    body = assert_error(response, 422, field)
    assert field in body["detail"]
    assert not Handoff.objects.exists()


def test_a_deep_history_error_names_its_index(api):
    history = [{"id": f"m{i}", "direction": "incoming", "text": "hi"} for i in range(5)]
    history[3]["direction"] = "upwards"
    del history[1]["id"]

    response = api.post("/handoffs", handoff_body(history=history))

    assert_error(response, 422, "history.1.id", "history.3.direction")


def test_missing_required_fields_are_all_listed(api):
    response = api.post("/handoffs", {"language": "en"})

    assert_error(response, 422, "conversation_id", "user_id", "channel")


def test_unknown_label_names_the_labels_field(api):
    LabelFactory(name="billing")

    body = assert_error(
        api.post("/handoffs", handoff_body(labels=["billing", "nope"])), 422, "labels"
    )
    assert "nope" in body["errors"][0]["message"]


# --- GET /api/v1/handoffs/{id} ---------------------------------------------------------------


def test_get_handoff_shows_the_assigned_agent(api, agent):
    created = api.post("/handoffs", handoff_body()).json()
    services.assign_handoff(handoff=Handoff.objects.get(pk=created["id"]), agent=agent)

    response = api.get(f"/handoffs/{created['id']}")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "assigned"
    assert body["agent"] == {"id": agent.pk, "name": "Alice Martin", "avatar_url": None}
    assert body["assigned_at"] is not None


def test_get_another_bots_handoff_is_not_found(api, other_handoff):
    assert_error(api.get(f"/handoffs/{other_handoff.pk}"), 404)


@pytest.mark.parametrize("handoff_id", ["999999", "abc", "9" * 30, "-1"])
def test_get_unknown_handoff_is_not_found(api, handoff_id):
    assert_error(api.get(f"/handoffs/{handoff_id}"), 404)


# --- POST /api/v1/handoffs/{id}/reject -------------------------------------------------------


def test_reject_cancels_an_assigned_handoff(api, bot, agent):
    created = api.post("/handoffs", handoff_body()).json()
    services.assign_handoff(handoff=Handoff.objects.get(pk=created["id"]), agent=agent)

    response = api.post(f"/handoffs/{created['id']}/reject")

    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert Handoff.objects.get().status == Handoff.Status.REJECTED
    assert Event.objects.filter(bot=bot).last().type == "handoff.rejected"


def test_reject_a_terminal_handoff_is_a_conflict(api):
    created = api.post("/handoffs", handoff_body()).json()
    api.post(f"/handoffs/{created['id']}/reject")

    body = assert_error(api.post(f"/handoffs/{created['id']}/reject"), 409)
    assert body["detail"] == f"Handoff #{created['id']} is rejected: it cannot be rejected."


def test_reject_another_bots_handoff_is_not_found(api, other_handoff):
    assert_error(api.post(f"/handoffs/{other_handoff.pk}/reject"), 404)
    other_handoff.refresh_from_db()
    assert other_handoff.status == Handoff.Status.PENDING


def test_reject_unknown_handoff_is_not_found(api):
    assert_error(api.post("/handoffs/424242/reject"), 404)


# --- The access matrix, shared by every endpoint ---------------------------------------------

ENDPOINTS = [
    ("POST", "/handoffs"),
    ("GET", "/handoffs/{id}"),
    ("POST", "/handoffs/{id}/reject"),
    ("POST", "/handoffs/{id}/rating"),
    ("POST", "/messages"),
    ("GET", "/agents"),
    ("GET", "/events"),
    ("GET", "/labels"),
    ("GET", "/deliveries"),
]


@pytest.fixture
def own_handoff(bot):
    return HandoffFactory(conversation__bot=bot)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer ", "Bearer hk_not-a-real-key", "Basic YWxpY2U6c2VjcmV0", "hk_bare"],
    ids=["missing", "empty", "bad-key", "basic", "no-scheme"],
)
def test_every_endpoint_needs_a_valid_key(client, own_handoff, method, path, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.generic(
        method,
        "/api/v1" + path.format(id=own_handoff.pk),
        "{}",
        "application/json",
        headers=headers,
    )

    assert_error(response, 401)
    assert response["WWW-Authenticate"] == "Bearer"
    own_handoff.refresh_from_db()
    assert own_handoff.status == Handoff.Status.PENDING


def test_another_bots_key_is_a_different_identity(client, other_bot, own_handoff):
    other = BotApi(client, other_bot.api_key)

    assert_error(other.get(f"/handoffs/{own_handoff.pk}"), 404)
    assert other.get("/agents").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/handoffs", "POST"),
        ("PUT", "/handoffs", "POST"),
        ("DELETE", "/handoffs/{id}", "GET"),
        ("POST", "/handoffs/{id}", "GET"),
        ("GET", "/handoffs/{id}/reject", "POST"),
        ("GET", "/handoffs/{id}/rating", "POST"),
        ("GET", "/messages", "POST"),
        ("POST", "/agents", "GET"),
        ("PATCH", "/events", "GET"),
        ("POST", "/labels", "GET"),
        ("DELETE", "/deliveries", "GET"),
    ],
)
def test_wrong_method_is_405_in_the_error_shape(api, own_handoff, method, path, allowed):
    response = api.call(method, path.format(id=own_handoff.pk))

    body = assert_error(response, 405)
    assert method in body["detail"]
    assert response["Allow"] == allowed
