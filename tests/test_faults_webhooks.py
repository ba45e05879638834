"""A bot endpoint that hangs or trickles: every attempt ends within HITLNEXT_WEBHOOK_TIMEOUT
(plus a margin), is recorded as a failure, and the event is retried with the same webhook-id."""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings

from tests.factories import BotFactory
from tests.webhooks import Reply, WebhookReceiver
from webhooks.delivery import deliver_due
from webhooks.events import record_event
from webhooks.models import Delivery, Event

pytestmark = pytest.mark.django_db

TIMEOUT = timedelta(seconds=1)
# Generous: the bound proves the attempt is cut, not how fast the machine is.
MARGIN = 8.0


def emit(bot) -> Event:
    with transaction.atomic():
        return record_event(bot=bot, type="message.created", data={"n": 1})


def make_due(event: Event) -> None:
    """Skip the backoff wait: the retry itself is what is under test."""
    delivery = Delivery.objects.get(event=event)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.last_attempt_at)


def timed_pass() -> float:
    started = time.monotonic()
    assert deliver_due() == 1
    return time.monotonic() - started


class TricklingReceiver:
    """Answers its first request's status line and then one header byte every 0.2 s for 30 s
    (each read gets a byte well within the per-read timeout); later requests get a plain 200.
    """

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.requests: list[bytes] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}/hooks"

    def _serve(self) -> None:
        self.server.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
            self.requests.append(head)
            try:
                if len(self.requests) == 1:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nx-slow: ")
                    for _ in range(150):
                        if self.stopping.wait(0.2):
                            return
                        conn.sendall(b"a")
                    conn.sendall(b"\r\ncontent-length: 0\r\n\r\n")
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            except OSError:  # the sender hung up on us: what the test wants
                return

    def webhook_ids(self) -> list[str]:
        ids = []
        for head in self.requests:
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.lower() == "webhook-id":
                    ids.append(value.strip())
        return ids

    def __enter__(self) -> TricklingReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.server.close()


@override_settings(HITLNEXT_WEBHOOK_TIMEOUT=TIMEOUT)
def test_an_endpoint_that_never_answers_is_cut_off_recorded_and_retried():
    with WebhookReceiver() as receiver:
        receiver.replies.append(Reply(200, delay=60))  # accepts, reads, never answers
        bot = BotFactory(webhook_url=receiver.url)
        event = emit(bot)

        elapsed = timed_pass()

        delivery = Delivery.objects.get(event=event)
        assert elapsed < TIMEOUT.total_seconds() + MARGIN
        assert delivery.status == Delivery.Status.PENDING
        assert delivery.attempts == 1
        assert delivery.last_error.startswith("Timed out")
        assert delivery.last_status_code is None
        assert delivery.next_attempt_at > delivery.last_attempt_at

        make_due(event)
        timed_pass()

    assert receiver.ids() == [event.public_id, event.public_id]
    assert Delivery.objects.get(event=event).status == Delivery.Status.DELIVERED


@override_settings(HITLNEXT_WEBHOOK_TIMEOUT=TIMEOUT)
def test_an_endpoint_trickling_its_answer_is_cut_off_by_the_attempt_deadline():
    # Each read gets a byte within the per-read timeout, so only a deadline on the whole
    # attempt ends it; without one the attempt would last 30 s and count as delivered.
    with TricklingReceiver() as receiver:
        bot = BotFactory(webhook_url=receiver.url)
        event = emit(bot)

        elapsed = timed_pass()

        delivery = Delivery.objects.get(event=event)
        assert elapsed < TIMEOUT.total_seconds() + MARGIN
        assert delivery.status == Delivery.Status.PENDING
        assert delivery.last_error == "Timed out: no answer within 1 s"

        make_due(event)
        timed_pass()

    assert receiver.webhook_ids() == [event.public_id, event.public_id]
    assert Delivery.objects.get(event=event).status == Delivery.Status.DELIVERED


@override_settings(HITLNEXT_WEBHOOK_TIMEOUT=TIMEOUT)
def test_one_hanging_endpoint_does_not_hold_up_the_others():
    with WebhookReceiver() as slow, WebhookReceiver() as fast:
        slow.replies.append(Reply(200, delay=60))
        stuck = emit(BotFactory(webhook_url=slow.url))
        others = [emit(BotFactory(webhook_url=fast.url)) for _ in range(3)]

        assert deliver_due() == 4

    assert sorted(fast.ids()) == sorted(e.public_id for e in others)
    assert Delivery.objects.get(event=stuck).last_error.startswith("Timed out")
