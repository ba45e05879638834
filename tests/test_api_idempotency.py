"""Idempotency-Key on the POST endpoints: replay, mismatch, and what is not remembered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api.idempotency import prune_idempotency_records
from api.models import IdempotencyRecord
from conversations.models import Message
from handoffs.models import Handoff
from tests.api_support import BotApi, assert_error, handoff_body, message_body
from tests.factories import LabelFactory
from webhooks.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, bot):
    return BotApi(client, bot.api_key)


def key(value: str) -> dict:
    return {"Idempotency-Key": value}


def test_a_replay_returns_the_first_response_and_does_nothing_again(api):
    first = api.post("/handoffs", handoff_body(), headers=key("k-1"))
    Handoff.objects.update(status=Handoff.Status.REJECTED)  # the world moved on meanwhile

    replay = api.post("/handoffs", handoff_body(), headers=key("k-1"))

    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()  # the stored answer, status "pending" and all
    assert replay["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Handoff.objects.count() == 1
    assert Event.objects.filter(type="handoff.created").count() == 1


def test_key_order_and_spacing_do_not_make_another_request(api):
    api.post("/handoffs", handoff_body(channel="web", user_id="u-1"), headers=key("k"))

    replay = api.post(
        "/handoffs",
        raw='{ "user_id":"u-1",  "channel": "web", "conversation_id": "th-42" }',
        headers=key("k"),
    )

    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/handoffs", handoff_body(channel="telegram")),
        ("/messages", message_body()),
    ],
    ids=["another-body", "another-path"],
)
def test_the_same_key_for_another_request_is_a_conflict(api, path, body):
    api.post("/handoffs", handoff_body(), headers=key("k-1"))

    response = api.post(path, body, headers=key("k-1"))

    assert_error(response, 409, "Idempotency-Key")
    assert "different request" in response.json()["detail"]
    assert not Message.objects.exclude(direction=Message.Direction.SYSTEM).exists()


def test_keys_belong_to_one_bot(api, client, other_bot):
    api.post("/handoffs", handoff_body(), headers=key("shared"))

    theirs = BotApi(client, other_bot.api_key).post(
        "/handoffs", handoff_body(channel="sms"), headers=key("shared")
    )

    assert theirs.status_code == 201
    assert Handoff.objects.count() == 2


def test_a_refused_request_is_not_remembered(api):
    failed = api.post("/handoffs", handoff_body(labels=["vip"]), headers=key("k-1"))
    LabelFactory(name="vip")

    retried = api.post("/handoffs", handoff_body(labels=["vip"]), headers=key("k-1"))

    assert (failed.status_code, retried.status_code) == (422, 201)
    assert "Idempotent-Replayed" not in retried
    assert IdempotencyRecord.objects.get().status_code == 201


def test_reject_replays_its_success_instead_of_a_conflict(api):
    handoff_id = api.post("/handoffs", handoff_body()).json()["id"]

    first = api.post(f"/handoffs/{handoff_id}/reject", headers=key("r-1"))
    replay = api.post(f"/handoffs/{handoff_id}/reject", headers=key("r-1"))
    without_key = api.post(f"/handoffs/{handoff_id}/reject")

    assert (first.status_code, replay.status_code) == (200, 200)
    assert replay.json() == first.json()
    assert without_key.status_code == 409
    assert Event.objects.filter(type="handoff.rejected").count() == 1


def test_a_message_replayed_by_key_returns_201_again(api):
    first = api.post("/messages", message_body(), headers=key("m"))
    replay = api.post("/messages", message_body(), headers=key("m"))
    same_id_new_key = api.post("/messages", message_body(), headers=key("m2"))

    assert (first.status_code, replay.status_code, same_id_new_key.status_code) == (
        201,
        201,
        200,
    )
    assert replay.json() == same_id_new_key.json() == first.json()
    assert Message.objects.count() == 1


@pytest.mark.parametrize("value", ["", "k" * 256])
def test_a_key_outside_1_to_255_characters_is_422(api, value):
    response = api.post("/handoffs", handoff_body(), headers=key(value))

    assert_error(response, 422, "Idempotency-Key")
    assert not Handoff.objects.exists()


def test_a_key_of_255_characters_is_fine(api):
    assert api.post("/handoffs", handoff_body(), headers=key("k" * 255)).status_code == 201


def test_old_keys_can_be_pruned(api, bot):
    api.post("/handoffs", handoff_body(), headers=key("old"))
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(days=2))
    api.post("/handoffs", handoff_body(conversation_id="th-2"), headers=key("new"))

    assert prune_idempotency_records(before=timezone.now() - timedelta(days=1)) == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
