"""examples/rasa: the real rasa-sdk action server and the webhook relay, against a live
hitlnext.

Rasa itself (rasa open source) cannot be installed here, so the test plays its two sides:
it calls the action server's /webhook exactly as Rasa does (the tracker payload: next_action,
sender_id, tracker with slots, events, latest_message..., domain, version, and the events a
tracker accumulates), and stands in for the one endpoint of Rasa's HTTP API the relay calls
(POST /conversations/{id}/tracker/events), applying what it receives to that tracker as Rasa
would. The action server runs from its own virtualenv, .venv-rasa (rasa-sdk's pins differ
from ours), which dev.py makes from examples/rasa/requirements.txt.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conversations.models import Conversation, Message
from dev import ensure_rasa_venv
from handoffs import messaging as handoff_messaging
from handoffs import services as handoff_services
from handoffs.models import Handoff
from tests.factories import BotFactory, UserFactory
from tests.recipes import (
    ROOT,
    FakeEndpoint,
    Process,
    Recorded,
    deliver_everything,
)
from tests.workers import free_port, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

RASA = ROOT / "examples" / "rasa"
DOMAIN: dict[str, Any] = yaml.safe_load((RASA / "domain.yml").read_text())
SENDER = "rasa-user-1"
RASA_VERSION = "3.21.0"  # what Rasa sends in `version`; rasa-sdk warns on another major.minor


class RasaConversation:
    """The Rasa server's side of one conversation: its tracker, and the action server calls
    its MessageProcessor makes for a user message (action_extract_slots' custom slot mapping
    after every message, paused or not; then, unless paused, the predicted actions)."""

    def __init__(self, sender_id: str, action_server: str) -> None:
        self.sender_id = sender_id
        self.http = httpx.Client(base_url=action_server, timeout=20)
        self.slots: dict[str, Any] = {
            name: slot.get("initial_value") for name, slot in DOMAIN["slots"].items()
        }
        self.paused = False
        self.events: list[dict[str, Any]] = []
        self.latest_message: dict[str, Any] = {}
        for event in (
            {"event": "action", "name": "action_session_start"},
            {"event": "session_started"},
            {"event": "action", "name": "action_listen"},
        ):
            self.apply(event)

    def apply(self, event: dict[str, Any]) -> None:
        event = {"timestamp": time.time(), **event}
        self.events.append(event)
        if event["event"] == "slot":
            self.slots[event["name"]] = event["value"]
        elif event["event"] == "pause":
            self.paused = True
        elif event["event"] == "resume":
            self.paused = False

    def tracker_state(self) -> dict[str, Any]:
        # rasa's DialogueStateTracker.current_state(EventVerbosity.ALL)
        latest_action = next(e["name"] for e in reversed(self.events) if e["event"] == "action")
        return {
            "sender_id": self.sender_id,
            "slots": dict(self.slots),
            "latest_message": self.latest_message,
            "latest_event_time": self.events[-1]["timestamp"],
            "followup_action": None,
            "paused": self.paused,
            "stack": [],
            "events": list(self.events),
            "latest_input_channel": "callback",
            "active_loop": {},
            "latest_action": {"action_name": latest_action},
            "latest_action_name": latest_action,
        }

    def call(self, action: str) -> dict[str, Any]:
        """POST /webhook as rasa's RemoteAction does; the answer: events and responses."""
        response = self.http.post(
            "/webhook",
            json={
                "next_action": action,
                "sender_id": self.sender_id,
                "tracker": self.tracker_state(),
                "domain": DOMAIN,
                "version": RASA_VERSION,
            },
        )
        assert response.status_code == 200, response.text
        return response.json()

    def utter(self, response: str) -> str:
        text = DOMAIN["responses"][response][0]["text"]
        self.apply({"event": "bot", "text": text, "metadata": {"utter_action": response}})
        return text

    def user_says(self, text: str, *, intent: str, then: list[str]) -> list[str]:
        """The user writes; `then` is what the policies would predict. Returns what the bot
        said."""
        message_id = uuid.uuid4().hex
        parse_data = {
            "text": text,
            "intent": {"name": intent, "confidence": 0.98},
            "entities": [],
            "message_id": message_id,
            "metadata": {},
        }
        self.latest_message = parse_data
        self.apply(
            {
                "event": "user",
                "text": text,
                "parse_data": parse_data,
                "input_channel": "callback",
                "message_id": message_id,
            }
        )
        extracted = self.call("action_hitlnext_relay")
        assert extracted["responses"] == []
        for event in extracted["events"]:
            assert event["event"] == "slot", event  # all action_extract_slots accepts
            self.apply(event)
        if self.paused:
            return []  # Rasa predicts nothing for a paused conversation
        said = []
        for action in then:
            self.apply({"event": "action", "name": action})
            if action.startswith("utter_"):
                said.append(self.utter(action))
                continue
            result = self.call(action)
            said.extend(self.utter(r["response"]) for r in result["responses"])
            for event in result["events"]:
                self.apply(event)
        if not self.paused:
            self.apply({"event": "action", "name": "action_listen"})
        return said


@pytest.fixture(scope="module")
def rasa_python() -> Path:
    # dev.py made it before the tests (an install step); run alone, pytest makes it here.
    return ensure_rasa_venv()


@pytest.fixture
def rasa_bot(transactional_db):
    return BotFactory(name="Rasa bot")


@pytest.fixture
def action_server(rasa_python, live_server, rasa_bot) -> Iterator[str]:
    port = free_port()
    server = Process(
        [str(rasa_python), "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        cwd=RASA,
        env={
            "HITLNEXT_URL": live_server.url,
            "HITLNEXT_API_KEY": rasa_bot.api_key,
            "SANIC_HOST": "127.0.0.1",
        },
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert server.popen.poll() is None, "".join(server.output)
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, what="the action server", seconds=60)
        yield url
    finally:
        server.stop()


@pytest.fixture
def rasa_conversation(action_server) -> Iterator[RasaConversation]:
    conversation = RasaConversation(SENDER, action_server)
    yield conversation
    conversation.http.close()


@pytest.fixture
def fake_rasa(rasa_conversation) -> Iterator[FakeEndpoint]:
    """Rasa's POST /conversations/{id}/tracker/events: the events land in the tracker."""

    def append(recorded: Recorded) -> tuple[int, Any]:
        if recorded.path != f"/conversations/{SENDER}/tracker/events":
            return 404, {"message": "not found"}
        for event in recorded.body:
            rasa_conversation.apply(event)
        return 200, rasa_conversation.tracker_state()

    endpoint = FakeEndpoint(append)
    yield endpoint
    endpoint.close()


@pytest.fixture
def relay(rasa_python, rasa_bot, fake_rasa) -> Iterator[str]:
    process = Process(
        [str(rasa_python), str(RASA / "relay.py"), "--port", "0"],
        env={"RASA_URL": fake_rasa.url, "HITLNEXT_WEBHOOK_SECRET": rasa_bot.webhook_secret},
    )
    try:
        url = process.wait_for_line(r"listening on (http://[\d.]+:\d+)/").group(1)
        rasa_bot.webhook_url = f"{url}/webhooks"
        rasa_bot.save(update_fields=["webhook_url"])
        yield url
    finally:
        process.stop()


def texts() -> list[tuple[str, str]]:
    conversation = Conversation.objects.get(external_id=SENDER)
    return list(conversation.messages.values_list("direction", "text"))


def test_the_action_server_runs_the_actions_the_domain_names(action_server):
    listed = {action["name"] for action in httpx.get(f"{action_server}/actions").json()}
    assert listed == set(DOMAIN["actions"])
    relay_slot = DOMAIN["slots"]["hitlnext_paused"]["mappings"]
    assert relay_slot == [{"type": "custom", "action": "action_hitlnext_relay"}]


def test_rasa_hands_off_stays_quiet_relays_agents_and_takes_the_conversation_back(
    rasa_conversation: RasaConversation, fake_rasa: FakeEndpoint, relay: str
):
    rasa = rasa_conversation
    greeting = DOMAIN["responses"]["utter_greet"][0]["text"]
    handing_off = DOMAIN["responses"]["utter_handoff_started"][0]["text"]
    # Said yesterday, before the bot relayed anything: it reaches agents in the history.
    yesterday = time.time() - 86400
    rasa.apply(
        {"event": "user", "text": "Do you ship to Norway?", "message_id": "old-1",
         "timestamp": yesterday, "input_channel": "callback", "parse_data": {}}
    )  # fmt: skip
    rasa.apply({"event": "action", "name": "action_listen"})

    # 1. An ordinary turn: relayed, answered by the bot.
    assert rasa.user_says("hi", intent="greet", then=["utter_greet"]) == [greeting]
    assert rasa.slots["hitlnext_paused"] is False
    assert texts() == [("incoming", "hi")]  # the bot's answer goes with the next turn

    # 2. The user asks for a person: the slots become user variables, the tracker's messages
    # the history, and the conversation pauses.
    for name, value in {"fullName": "Ada Lovelace", "order_number": "A-1042"}.items():
        rasa.apply({"event": "slot", "name": name, "value": value})
    said = rasa.user_says(
        "I want to talk to a person", intent="human_handoff", then=["action_hand_off_to_human"]
    )
    assert said == [handing_off]
    assert rasa.paused
    handoff = Handoff.objects.get()
    assert handoff.status == Handoff.Status.PENDING
    assert handoff.conversation.channel == "callback"  # the tracker's latest input channel
    assert rasa.slots["hitlnext_handoff_id"] == str(handoff.pk)
    assert handoff.conversation.end_user.variables == {
        "fullName": "Ada Lovelace",
        "order_number": "A-1042",
    }
    assert texts() == [
        ("incoming", "hi"),
        ("outgoing", greeting),
        ("incoming", "I want to talk to a person"),
        ("incoming", "Do you ship to Norway?"),  # only the history had it
        ("system", "You are being transferred to an agent."),
    ]
    old = Message.objects.get(external_id="old-1")
    assert abs(old.created_at.timestamp() - yesterday) < 1

    # 3. The transfer notice, the assign notice and the agent's words reach the user through
    # Rasa (appended to the tracker, sent on the user's latest channel).
    deliver_everything()
    agent = UserFactory(username="alice", first_name="Alice", last_name="Martin", online=True)
    handoff_services.assign_handoff(handoff=handoff, agent=agent)
    handoff_messaging.send_agent_message(handoff=handoff, agent=agent, text="Hello, Alice here")
    deliver_everything()
    assert {r.path for r in fake_rasa.requests} == {f"/conversations/{SENDER}/tracker/events"}
    assert all(
        r.query == {"output_channel": "latest", "execute_side_effects": "true"}
        for r in fake_rasa.requests
    )
    sent = [event for r in fake_rasa.requests for event in r.body]
    assert [(e["event"], e["text"], e["metadata"]["hitlnext"]["author"]) for e in sent] == [
        ("bot", "You are being transferred to an agent.", "system"),
        ("bot", "You have been assigned to our agent Alice Martin.", "system"),
        ("bot", "Hello, Alice here", "agent"),
    ]
    assert sent[-1]["metadata"]["hitlnext"]["agent"] == "Alice Martin"

    # 4. Paused: the user's message reaches the agent, the bot says nothing. The bot's own
    # handoff message is relayed with it; the agents' messages in the tracker are not.
    assert rasa.user_says("Is my parcel lost?", intent="ask_parcel", then=["utter_greet"]) == []
    assert rasa.slots["hitlnext_paused"] is True
    assert texts()[5:] == [
        ("system", "You have been assigned to our agent Alice Martin."),
        ("agent", "Hello, Alice here"),
        ("outgoing", handing_off),
        ("incoming", "Is my parcel lost?"),
    ]

    # 5. Resolved: the relay resumes the conversation, and the bot answers again.
    handoff_services.resolve_handoff(handoff=handoff, agent=agent)
    deliver_everything()
    assert fake_rasa.requests[-1].body == [
        {"event": "resume"},
        {"event": "slot", "name": "hitlnext_paused", "value": False},
        {"event": "slot", "name": "hitlnext_handoff_id", "value": None},
    ]
    assert not rasa.paused
    assert rasa.user_says("thanks!", intent="greet", then=["utter_greet"]) == [greeting]
    assert rasa.slots["hitlnext_paused"] is False
    assert texts()[-1] == ("incoming", "thanks!")
    assert not Message.objects.filter(direction="outgoing", text="Hello, Alice here").exists()


def test_the_relay_refuses_unsigned_webhooks_and_passes_nothing_to_rasa(
    relay: str, fake_rasa: FakeEndpoint
):
    body = b'{"id":"evt_1","type":"handoff.resolved","created_at":"2026-01-01T00:00:00Z"}'
    forged = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    }
    assert httpx.post(f"{relay}/webhooks", content=body).status_code == 401
    assert httpx.post(f"{relay}/webhooks", content=body, headers=forged).status_code == 401
    assert fake_rasa.requests == []
