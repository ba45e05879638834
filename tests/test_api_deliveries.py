"""GET /api/v1/labels (the names a bot may send) and GET /api/v1/deliveries (the bot's own
webhook delivery health)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import time_machine
from django.utils import timezone

from conversations.models import Bot
from tests.api_support import BotApi, assert_error, handoff_body
from tests.factories import BotFactory, ConversationFactory, LabelFactory
from webhooks import delivery as delivery_module
from webhooks.delivery import deliver_due
from webhooks.models import Delivery, Event

pytestmark = pytest.mark.django_db

T0 = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
Status = Delivery.Status


@pytest.fixture
def api(client, bot):
    return BotApi(client, bot.api_key)


# --- Labels ---------------------------------------------------------------------------------


def test_labels_lists_every_name_a_bot_may_send_by_name(api):
    LabelFactory(name="shipping", color="#2563eb")
    LabelFactory(name="billing", color="#6b7280")

    response = api.get("/labels")

    assert response.status_code == 200
    assert response.json() == {
        "labels": [
            {"name": "billing", "color": "#6b7280"},
            {"name": "shipping", "color": "#2563eb"},
        ]
    }


def test_labels_is_empty_on_a_fresh_server(api):
    assert api.get("/labels").json() == {"labels": []}


def test_labels_is_two_queries_however_many_labels(api, django_assert_num_queries):
    for n in range(5):
        LabelFactory(name=f"label-{n}")

    with django_assert_num_queries(2):  # the bot's key, the labels
        assert len(api.get("/labels").json()["labels"]) == 5


def test_an_unknown_label_is_refused_listing_the_known_ones(api):
    LabelFactory(name="shipping")
    LabelFactory(name="billing")

    body = assert_error(api.post("/handoffs", handoff_body(labels=["shiping"])), 422, "labels")

    assert body["errors"][0]["message"] == (
        'Unknown label: "shiping". Known labels (GET /api/v1/labels): "billing", "shipping".'
    )


def test_an_unknown_label_on_a_server_without_labels_says_so(api):
    body = assert_error(api.post("/handoffs", handoff_body(labels=["vip"])), 422, "labels")

    assert "no labels yet" in body["errors"][0]["message"]


def test_a_long_label_list_is_cut_in_the_error(api):
    for n in range(60):
        LabelFactory(name=f"label-{n:02}")

    body = assert_error(api.post("/handoffs", handoff_body(labels=["nope"])), 422, "labels")

    message = body["errors"][0]["message"]
    assert '"label-49", ...' in message and "label-50" not in message


# --- Deliveries -----------------------------------------------------------------------------


def make_delivery(bot: Bot, *, conversation=None, **fields) -> Delivery:
    conversation = conversation or ConversationFactory(bot=bot)
    event = Event.objects.create(
        bot=bot, conversation=conversation, type="message.created", data={}, created_at=T0
    )
    return Delivery.objects.create(event=event, bot=bot, conversation=conversation, **fields)


def ids(response) -> list[int]:
    return [d["id"] for d in response.json()["deliveries"]]


def test_deliveries_show_attempts_last_error_and_next_try(api, bot):
    failing = make_delivery(
        bot,
        conversation=ConversationFactory(bot=bot, external_id="th-9"),
        attempts=3,
        last_attempt_at=T0 + timedelta(seconds=80),
        last_status_code=503,
        last_error="HTTP 503 Service Unavailable",
        next_attempt_at=T0 + timedelta(seconds=112),
    )

    response = api.get("/deliveries")

    assert response.status_code == 200
    assert response.json() == {
        "webhook_enabled": True,
        "deliveries": [
            {
                "id": failing.pk,
                "event": {
                    "id": failing.event.public_id,
                    "type": "message.created",
                    "created_at": "2031-03-01T12:00:00Z",
                },
                "conversation_id": "th-9",
                "status": "pending",
                "attempts": 3,
                "last_attempt_at": "2031-03-01T12:01:20Z",
                "last_status_code": 503,
                "last_error": "HTTP 503 Service Unavailable",
                "next_attempt_at": "2031-03-01T12:01:52Z",
                "sending": False,
                "delivered_at": None,
            }
        ],
        "next_cursor": None,
    }


def test_an_attempt_in_flight_shows_as_sending_with_no_next_try(api, bot):
    # The worker claimed it (webhooks.delivery.claim_due): its lease, not a next try.
    make_delivery(
        bot,
        attempts=1,
        next_attempt_at=timezone.now() + timedelta(seconds=30),
        leased_until=timezone.now() + timedelta(seconds=30),
    )

    [delivery] = api.get("/deliveries").json()["deliveries"]

    assert delivery["sending"] is True and delivery["next_attempt_at"] is None


def test_a_real_failed_attempt_shows_as_failing(client, monkeypatch):
    monkeypatch.setattr(
        delivery_module, "_transport", httpx.MockTransport(lambda request: httpx.Response(503))
    )
    hooked = BotFactory(webhook_url="https://bot.example.com/hooks")
    api = BotApi(client, hooked.api_key)
    with time_machine.travel(T0, tick=False):
        api.post("/handoffs", handoff_body())  # handoff.created, then the transfer message
        assert deliver_due() == 1  # the second waits for the first (same conversation)

    page = api.get("/deliveries", {"status": "failing"}).json()
    (failing,) = page["deliveries"]
    assert failing["event"]["type"] == "handoff.created"
    assert failing["status"] == "pending"
    assert failing["attempts"] == 1
    assert failing["last_status_code"] == 503
    assert failing["last_error"] == "HTTP 503 Service Unavailable"
    assert failing["last_attempt_at"] == "2031-03-01T12:00:00Z"
    assert failing["next_attempt_at"] > failing["last_attempt_at"]
    assert failing["delivered_at"] is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("failing", ["given_up", "retrying"]),
        ("pending", ["retrying", "waiting"]),
        ("delivered", ["delivered"]),
        ("failed", ["given_up"]),
        (None, ["given_up", "retrying", "delivered", "waiting"]),
    ],
)
def test_the_status_filter(api, bot, status, expected):
    made = {
        "waiting": make_delivery(bot),  # never tried yet: not failing
        "delivered": make_delivery(bot, status=Status.DELIVERED, attempts=2, delivered_at=T0),
        "retrying": make_delivery(bot, attempts=1, last_error="Timed out"),
        "given_up": make_delivery(bot, status=Status.FAILED, attempts=30, last_error="HTTP 500"),
    }
    names = {delivery.pk: name for name, delivery in made.items()}

    response = api.get("/deliveries", {"status": status} if status else {})

    assert [names[pk] for pk in ids(response)] == expected  # newest first


def test_only_the_bots_own_deliveries_are_listed(api, bot, other_bot):
    mine = make_delivery(bot, attempts=2, last_error="HTTP 500")
    theirs = [make_delivery(other_bot, attempts=5, last_error="HTTP 500") for _ in range(3)]

    for params in ({}, {"status": "failing"}, {"before": str(theirs[-1].pk + 1)}):
        assert ids(api.get("/deliveries", params)) == [mine.pk]
    other = BotApi(api.client, other_bot.api_key)
    assert ids(other.get("/deliveries")) == [d.pk for d in reversed(theirs)]


def test_pages_newest_first_with_the_cursor(api, bot):
    made = [make_delivery(bot).pk for _ in range(5)]

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2} | ({"before": cursor} if cursor else {})
        page = api.get("/deliveries", params).json()
        pages += 1
        seen += [d["id"] for d in page["deliveries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == list(reversed(made))
    assert pages == 3


def test_a_disabled_endpoint_is_shown(api, bot):
    Bot.objects.filter(pk=bot.pk).update(webhook_enabled=False)

    assert api.get("/deliveries").json()["webhook_enabled"] is False


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "broken"}, "status"),
        ({"before": "abc"}, "before"),
        ({"before": "9" * 20}, "before"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
    ],
)
def test_bad_parameters_are_422_naming_them(api, params, field):
    assert_error(api.get("/deliveries", params), 422, field)


def test_deliveries_are_two_queries_however_many(api, bot, django_assert_num_queries):
    for n in range(6):
        make_delivery(bot, conversation=ConversationFactory(bot=bot, external_id=f"th-{n}"))

    with django_assert_num_queries(2):  # the bot's key, the deliveries with their events
        assert len(api.get("/deliveries").json()["deliveries"]) == 6
