"""Webhook delivery against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import time_machine
from django.utils import timezone

from conversations.models import Bot
from handoffs.services import start_handoff
from tests.factories import BotFactory, ConversationFactory
from tests.webhooks import Reply, emit, verify
from webhooks.delivery import (
    Outcome,
    backoff,
    claim_due,
    deliver_due,
    parse_retry_after,
    record_outcome,
    retry_deliveries,
)
from webhooks.models import Delivery, Event

pytestmark = pytest.mark.django_db

T0 = datetime(2031, 3, 1, 12, 0, 0, tzinfo=UTC)  # later than any real clock here
Status = Delivery.Status


def drain() -> int:
    total = 0
    for _ in range(100):
        done = deliver_due()
        if not done:
            return total
        total += done
    raise AssertionError("deliveries never settled")


def delivery_of(event: Event) -> Delivery:
    return Delivery.objects.get(event=event)


def test_handoff_events_are_posted_signed_and_marked_delivered(receiver, hook_bot):
    start_handoff(bot=hook_bot, conversation_id="th-1", user_id="u-1", channel="web")

    assert drain() == 2

    events = list(Event.objects.filter(bot=hook_bot))
    assert receiver.ids() == [e.public_id for e in events]
    for request, event in zip(receiver.received, events, strict=True):
        assert verify(secret=hook_bot.webhook_secret, headers=request.headers, body=request.body)
        assert request.json() == event.as_payload()
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"] == "hitlnext-webhooks"
    assert receiver.payloads()[0]["type"] == "handoff.created"
    for delivery in Delivery.objects.all():
        assert delivery.status == Status.DELIVERED
        assert delivery.attempts == 1
        assert delivery.last_status_code == 200
        assert delivery.delivered_at is not None


def test_nothing_is_sent_twice_once_delivered(receiver, hook_bot):
    emit(hook_bot)
    assert drain() == 1
    assert drain() == 0
    assert len(receiver.received) == 1


def test_no_delivery_row_for_a_bot_without_webhook_url(bot):
    start_handoff(bot=bot, conversation_id="th-1", user_id="u-1", channel="web")

    assert Event.objects.filter(bot=bot).count() == 2
    assert not Delivery.objects.exists()


def test_retries_keep_the_webhook_id_and_back_off_within_growing_windows(receiver, hook_bot):
    receiver.replies.extend([Reply(500), Reply(503), Reply(502)])
    with time_machine.travel(T0, tick=False) as traveller:
        event = emit(hook_bot)
        for attempt in (1, 2, 3):
            assert deliver_due() == 1
            delivery = delivery_of(event)
            assert delivery.status == Status.PENDING
            assert delivery.attempts == attempt
            wait = delivery.next_attempt_at - timezone.now()
            assert timedelta(seconds=1) <= wait <= timedelta(seconds=5 * 2 ** (attempt - 1))
            assert deliver_due() == 0, "retried before its time"
            traveller.move_to(delivery.next_attempt_at)
        assert deliver_due() == 1

    delivery = delivery_of(event)
    assert delivery.status == Status.DELIVERED
    assert delivery.attempts == 4
    assert delivery.last_status_code == 200
    assert delivery.last_error == ""
    assert receiver.ids() == [event.public_id] * 4
    stamps = [int(r.headers["webhook-timestamp"]) for r in receiver.received]
    assert stamps == sorted(stamps) and stamps[0] == int(T0.timestamp())
    for request in receiver.received:
        assert verify(secret=hook_bot.webhook_secret, headers=request.headers, body=request.body)


def test_a_failed_attempt_records_status_and_error(receiver, hook_bot):
    receiver.replies.append(Reply(500))
    event = emit(hook_bot)

    deliver_due()

    delivery = delivery_of(event)
    assert delivery.last_status_code == 500
    assert delivery.last_error == "HTTP 500 Internal Server Error"
    assert delivery.last_attempt_at is not None


def test_backoff_window_doubles_from_5_seconds_and_is_capped_at_an_hour():
    previous_ceiling = 0.0
    for attempts, ceiling in ((1, 5), (2, 10), (3, 20), (4, 40), (8, 640)):
        waits = [backoff(attempts).total_seconds() for _ in range(400)]
        assert all(1 <= w <= ceiling for w in waits)
        # Full jitter: the window really widened (some waits beyond the previous ceiling).
        assert max(waits) > max(previous_ceiling, ceiling / 2)
        previous_ceiling = ceiling
    capped = [backoff(40).total_seconds() for _ in range(400)]
    assert all(w <= 3600 for w in capped) and max(capped) > 1800


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", timedelta(seconds=120)),
        (format_datetime(T0 + timedelta(hours=2), usegmt=True), timedelta(hours=2)),
        ("86400", timedelta(hours=6)),  # capped
    ],
    ids=["seconds", "http-date", "capped"],
)
def test_retry_after_is_honoured(receiver, hook_bot, header, expected):
    receiver.replies.append(Reply(429, {"retry-after": header}))
    with time_machine.travel(T0, tick=False):
        event = emit(hook_bot)
        deliver_due()

        delivery = delivery_of(event)
        assert delivery.last_status_code == 429
        assert delivery.next_attempt_at == T0 + expected
        assert deliver_due() == 0


def test_unreadable_retry_after_is_ignored():
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == timedelta(0)  # in the past


def test_410_disables_the_endpoint_and_nothing_is_lost(receiver, hook_bot):
    talk = ConversationFactory(bot=hook_bot)
    receiver.replies.append(Reply(410))
    first = emit(hook_bot, talk, n=1)

    assert deliver_due() == 1

    hook_bot.refresh_from_db()
    assert hook_bot.webhook_enabled is False
    delivery = delivery_of(first)
    assert delivery.status == Status.PENDING
    assert delivery.last_status_code == 410
    # Events keep being recorded while it is disabled, and are kept for later.
    later = [emit(hook_bot, talk, n=2), emit(hook_bot, talk, n=3)]
    elsewhere = emit(hook_bot, ConversationFactory(bot=hook_bot), n=4)
    assert drain() == 0
    assert len(receiver.received) == 1

    Bot.objects.filter(pk=hook_bot.pk).update(webhook_enabled=True)  # an admin re-enables it
    assert drain() == 4

    resent = receiver.ids()[1:]
    assert sorted(resent) == sorted(e.public_id for e in [first, *later, elsewhere])
    in_talk = [i for i in resent if i != elsewhere.public_id]
    assert in_talk == [first.public_id, later[0].public_id, later[1].public_id]
    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.DELIVERED}


def test_gives_up_after_the_retry_window_and_can_be_requeued(receiver, hook_bot, settings):
    settings.HITLNEXT_WEBHOOK_RETRY_FOR = timedelta(days=3)
    receiver.respond = lambda request: Reply(500)
    with time_machine.travel(T0, tick=False) as traveller:
        event = emit(hook_bot)
        deliver_due()
        # Still retried late in the window, never scheduled past its end.
        traveller.move_to(T0 + timedelta(days=3) - timedelta(minutes=1))
        assert deliver_due() == 1
        delivery = delivery_of(event)
        assert delivery.status == Status.PENDING
        assert delivery.next_attempt_at <= T0 + timedelta(days=3)

        traveller.move_to(T0 + timedelta(days=3, seconds=1))
        assert deliver_due() == 1
        delivery = delivery_of(event)
        assert delivery.status == Status.FAILED
        assert delivery.attempts == 3
        assert deliver_due() == 0

        # Failed deliveries stay visible and can be sent again ("Retry now").
        receiver.respond = None
        retried = retry_deliveries(deliveries=Delivery.objects.filter(pk=delivery.pk))
        assert (retried.sent, retried.delivered) == (1, 1)  # attempted there and then
        assert deliver_due() == 0

    delivery = delivery_of(event)
    assert delivery.status == Status.DELIVERED
    assert receiver.ids() == [event.public_id] * 4


def test_a_later_event_of_a_conversation_waits_for_the_earlier(receiver, hook_bot):
    talk, other_talk = ConversationFactory(bot=hook_bot), ConversationFactory(bot=hook_bot)
    failed_once: set[str] = set()

    def respond(request):
        if request.json()["data"] == {"n": 1} and not failed_once:  # a1's first attempt
            failed_once.add(request.webhook_id)
            return Reply(500)
        return None

    receiver.respond = respond
    with time_machine.travel(T0, tick=False) as traveller:
        a1, a2 = emit(hook_bot, talk, n=1), emit(hook_bot, talk, n=2)
        b1 = emit(hook_bot, other_talk, n=10)  # not n=1: only a1 may get the 500
        loose = emit(hook_bot, None, n=0)  # no conversation: no ordering constraint
        drain()

        assert a2.public_id not in receiver.ids()
        assert delivery_of(a2).attempts == 0
        assert delivery_of(b1).status == Status.DELIVERED
        assert delivery_of(loose).status == Status.DELIVERED

        traveller.move_to(delivery_of(a1).next_attempt_at)
        drain()

    ids = receiver.ids()
    assert [i for i in ids if i in {a1.public_id, a2.public_id}] == [
        a1.public_id,
        a1.public_id,
        a2.public_id,
    ]
    assert delivery_of(a2).status == Status.DELIVERED


def test_an_in_flight_delivery_is_claimed_once_and_blocks_its_conversation(hook_bot):
    talk = ConversationFactory(bot=hook_bot)
    a1, a2 = emit(hook_bot, talk), emit(hook_bot, talk)
    b1 = emit(hook_bot, ConversationFactory(bot=hook_bot))

    first = claim_due(limit=1)
    second = claim_due(limit=8)  # another worker, while the first is still sending

    assert [c.delivery.event_id for c in first] == [a1.pk]
    assert [c.delivery.event_id for c in second] == [b1.pk]
    assert a2.pk not in {c.delivery.event_id for c in second}
    assert claim_due(limit=8) == []


def test_an_expired_lease_is_taken_over_and_the_stale_result_ignored(hook_bot, settings):
    settings.HITLNEXT_WEBHOOK_LEASE = timedelta(seconds=30)
    event = emit(hook_bot)
    with time_machine.travel(T0, tick=False) as traveller:
        (lost,) = claim_due(limit=1)
        traveller.shift(31)  # the first worker is stuck (or dead) past its lease
        (taken,) = claim_due(limit=1)
        record_outcome(claim=lost, outcome=Outcome(status_code=500, error="HTTP 500"))

        delivery = delivery_of(event)
        assert delivery.attempts == 0 and delivery.next_attempt_at == taken.lease_until

        record_outcome(claim=taken, outcome=Outcome(status_code=204))

    delivery = delivery_of(event)
    assert delivery.status == Status.DELIVERED
    assert delivery.attempts == 1


def test_attempt_timeout_is_bounded(receiver, hook_bot, settings):
    settings.HITLNEXT_WEBHOOK_TIMEOUT = timedelta(seconds=0.3)
    receiver.replies.append(Reply(200, delay=60))
    event = emit(hook_bot)

    assert deliver_due() == 1

    # The receiver would only have answered (200) after a minute: we gave up well before.
    assert receiver.answered == 0
    delivery = delivery_of(event)
    assert delivery.status == Status.PENDING
    assert delivery.last_status_code is None
    assert delivery.last_error.startswith("Timed out")


def test_redirects_are_not_followed(receiver, hook_bot):
    receiver.replies.append(Reply(307, {"location": receiver.url + "/elsewhere"}))
    event = emit(hook_bot)

    deliver_due()

    assert [r.path for r in receiver.received] == ["/hooks"]
    delivery = delivery_of(event)
    assert delivery.status == Status.PENDING
    assert delivery.last_status_code == 307
    assert "redirects are not followed" in delivery.last_error


@pytest.mark.parametrize("reachable", [True, False], ids=["http-error", "network-error"])
def test_errors_and_logs_never_show_url_credentials_or_the_secret(receiver, caplog, reachable):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    port = receiver.server.server_address[1] if reachable else closed_port
    url = f"http://hook-user:hunter2-pass@127.0.0.1:{port}/hooks?token=s3cr3t-token"
    bot = BotFactory(webhook_url=url)
    receiver.replies.append(Reply(500))
    event = emit(bot)

    with caplog.at_level(logging.DEBUG):
        assert deliver_due() == 1

    delivery = delivery_of(event)
    assert delivery.last_error.startswith("HTTP 500" if reachable else "ConnectError")
    assert len(receiver.received) == int(reachable)
    for secret in ("hunter2-pass", "s3cr3t-token", bot.webhook_secret):
        assert secret not in delivery.last_error
        assert secret not in caplog.text


def test_error_text_echoing_credentials_is_masked():
    from webhooks.delivery import _safe_error

    bot = BotFactory(webhook_url="https://me:pa55word@example.com/h?key=k3y")
    text = f"boom at https://me:pa55word@example.com/h?key=k3y with {bot.webhook_secret}"

    masked = _safe_error(text, bot)

    assert "pa55word" not in masked and "key=k3y" not in masked
    assert bot.webhook_secret not in masked


def test_retry_now_sends_delivered_and_failed_deliveries_again(receiver, hook_bot):
    done, failed = emit(hook_bot), emit(hook_bot)
    Delivery.objects.filter(event=done).update(status=Status.DELIVERED, delivered_at=T0)
    Delivery.objects.filter(event=failed).update(
        status=Status.FAILED, next_attempt_at=T0 + timedelta(days=9)
    )

    retried = retry_deliveries(deliveries=Delivery.objects.filter(event__in=[done, failed]))

    assert (retried.sent, retried.delivered, retried.queued, retried.in_flight) == (2, 2, 0, 0)
    assert sorted(receiver.ids()) == sorted([done.public_id, failed.public_id])
    for event in (done, failed):
        delivery = delivery_of(event)
        assert (delivery.status, delivery.attempts) == (Status.DELIVERED, 1)
        assert delivery.delivered_at != T0  # this attempt's
        assert delivery.leased_until is None
