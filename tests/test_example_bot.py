"""examples/example_bot.py, run as its own process against a live hitlnext server.

The bot speaks to the API over HTTP and receives real signed webhooks from the worker, which
this test drives one pass at a time (webhooks.worker.run_once).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conversations.models import Conversation, Message
from handoffs import messaging as handoff_messaging
from handoffs import services as handoff_services
from handoffs.models import Handoff
from tests.factories import BotFactory, UserFactory
from webhooks.delivery import retry_deliveries
from webhooks.models import Delivery
from webhooks.worker import run_once

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "example_bot.py"


class RunningBot:
    def __init__(self, url: str, output: list[str]) -> None:
        self.url = url
        self.output = output
        self.http = httpx.Client(base_url=url, timeout=20)

    def user_says(self, text: str, user_id: str = "u-1") -> dict:
        response = self.http.post("/user-says", json={"user_id": user_id, "text": text})
        assert response.status_code == 200, response.text
        return response.json()

    def inbox(self, user_id: str = "u-1") -> dict:
        return self.http.get("/inbox", params={"user_id": user_id}).json()


@pytest.fixture
def hook_bot(transactional_db):
    return BotFactory(name="Example bot")


@pytest.fixture
def example_bot(live_server, hook_bot) -> Iterator[RunningBot]:
    process = subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLE),
            "--hitlnext",
            live_server.url,
            "--api-key",
            hook_bot.api_key,
            "--secret",
            hook_bot.webhook_secret,
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    first = process.stdout.readline()
    match = re.search(r"listening on (http://[\d.]+:\d+)/", first)
    assert match, first
    output: list[str] = []
    # Keep reading so the pipe never fills up and blocks the bot.
    threading.Thread(target=lambda: output.extend(process.stdout), daemon=True).start()
    hook_bot.webhook_url = f"{match.group(1)}/webhooks"
    hook_bot.save(update_fields=["webhook_url"])
    running = RunningBot(match.group(1), output)
    yield running
    running.http.close()
    process.terminate()
    process.wait(timeout=10)


def deliver_everything() -> None:
    while run_once():
        pass
    assert not Delivery.objects.exclude(status=Delivery.Status.DELIVERED).exists()


def conversation_texts() -> list[tuple[str, str]]:
    conversation = Conversation.objects.get(external_id="example-u-1")
    return list(conversation.messages.values_list("direction", "text"))


def test_example_bot_relays_hands_off_stays_quiet_and_takes_back_the_conversation(
    example_bot: RunningBot,
):
    # 1. An ordinary message: relayed both ways, answered by the bot.
    answer = example_bot.user_says("hi")
    assert answer["paused"] is False
    assert answer["replies"] == ['You said "hi". Type "agent" to talk to a person.']
    assert conversation_texts() == [("incoming", "hi"), ("outgoing", answer["replies"][0])]

    # 2. "agent": a handoff through the API; the bot is paused.
    answer = example_bot.user_says("agent")
    assert answer["paused"] is True
    handoff = Handoff.objects.get()
    assert handoff.status == Handoff.Status.PENDING
    assert handoff.conversation.end_user.variables == {"fullName": "Example user u-1"}
    deliver_everything()
    assert example_bot.inbox()["messages"][-1] == {
        "from": "system",
        "agent": None,
        "text": "You are being transferred to an agent.",
    }

    # 3. An agent takes it and writes: signed webhooks, verified and delivered to the user.
    agent = UserFactory(username="alice", first_name="Alice", last_name="Martin", online=True)
    handoff_services.assign_handoff(handoff=handoff, agent=agent)
    handoff_messaging.send_agent_message(handoff=handoff, agent=agent, text="Hello, Alice here")
    deliver_everything()
    inbox = example_bot.inbox()
    assert inbox["paused"] is True
    assert inbox["messages"][-2:] == [
        {
            "from": "system",
            "agent": None,
            "text": "You have been assigned to our agent Alice Martin.",
        },
        {"from": "agent", "agent": "Alice Martin", "text": "Hello, Alice here"},
    ]

    # Delivery is at least once: a redelivered webhook-id is acknowledged, not shown again.
    assert retry_deliveries(deliveries=Delivery.objects.all()).sent > 0
    deliver_everything()
    assert example_bot.inbox()["messages"] == inbox["messages"]

    # 4. While paused the bot relays the user's words but does not answer.
    answer = example_bot.user_says("thanks, one more question")
    assert answer == {"paused": True, "replies": []}
    assert conversation_texts()[-1] == ("incoming", "thanks, one more question")

    # 5. Resolved: the bot hears it by webhook and answers again.
    handoff_services.resolve_handoff(handoff=handoff, agent=agent)
    deliver_everything()
    assert example_bot.inbox()["paused"] is False
    answer = example_bot.user_says("are you back?")
    assert answer["paused"] is False
    assert answer["replies"]
    assert Message.objects.filter(direction="outgoing", text=answer["replies"][0]).exists()


def test_example_bot_refuses_unsigned_or_forged_webhooks(example_bot: RunningBot, hook_bot):
    body = b'{"id":"evt_1","type":"message.created","created_at":"2026-01-01T00:00:00Z"}'
    unsigned = example_bot.http.post("/webhooks", content=body)
    forged = example_bot.http.post(
        "/webhooks",
        content=body,
        headers={
            "webhook-id": "evt_1",
            "webhook-timestamp": "1767225600",
            "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        },
    )
    assert unsigned.status_code == 401
    assert forged.status_code == 401
    assert example_bot.inbox()["messages"] == []
