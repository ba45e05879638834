from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import transaction

from tests.factories import BotFactory
from tests.webhooks import verify
from webhooks import signing
from webhooks.events import record_event

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def make_event(bot, **data):
    with transaction.atomic():
        return record_event(bot=bot, type="message.created", data=data or {"text": "héllo ✓"})


def test_signed_request_verifies_with_an_independent_verifier():
    bot = BotFactory()
    event = make_event(bot)

    with time_machine.travel(NOW, tick=False):
        body, headers = signing.signed_request(event=event, secret=bot.webhook_secret)

    assert verify(secret=bot.webhook_secret, headers=headers, body=body)
    assert headers["webhook-id"] == event.public_id
    assert headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "hitlnext-webhooks"


def test_body_is_the_compact_json_event_payload():
    bot = BotFactory()
    event = make_event(bot, text="héllo ✓", n=1)

    body, _ = signing.signed_request(event=event, secret=bot.webhook_secret)

    assert json.loads(body) == event.as_payload()
    assert body == json.dumps(event.as_payload(), separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )
    assert b": " not in body and b", " not in body


def test_tampered_body_fails_verification():
    bot = BotFactory()
    body, headers = signing.signed_request(event=make_event(bot), secret=bot.webhook_secret)

    tampered = body.replace(b"message.created", b"handoff.resolved")

    assert tampered != body
    assert not verify(secret=bot.webhook_secret, headers=headers, body=tampered)


def test_other_secret_or_replayed_timestamp_fails_verification():
    bot, other = BotFactory(), BotFactory()
    body, headers = signing.signed_request(event=make_event(bot), secret=bot.webhook_secret)

    assert not verify(secret=other.webhook_secret, headers=headers, body=body)
    moved = headers | {"webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)}
    assert not verify(secret=bot.webhook_secret, headers=moved, body=body)


def test_each_attempt_has_the_same_id_and_its_own_timestamp():
    bot = BotFactory()
    event = make_event(bot)

    with time_machine.travel(NOW, tick=False) as traveller:
        _, first = signing.signed_request(event=event, secret=bot.webhook_secret)
        traveller.shift(90)
        _, second = signing.signed_request(event=event, secret=bot.webhook_secret)

    assert first["webhook-id"] == second["webhook-id"] == event.public_id
    assert int(second["webhook-timestamp"]) - int(first["webhook-timestamp"]) == 90
    assert first["webhook-signature"] != second["webhook-signature"]
