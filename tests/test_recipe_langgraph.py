"""examples/langgraph: the real LangGraph runtime (langchain-core's fake chat model, so no
LLM) with a SQLite checkpointer, against a live hitlnext. Every command is its own process,
so the graph that stops at interrupt() in one process is resumed in another.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conversations.models import Conversation
from handoffs import messaging as handoff_messaging
from handoffs import services as handoff_services
from handoffs.models import Handoff
from tests.factories import BotFactory, UserFactory
from tests.recipes import ROOT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

BOT = ROOT / "examples" / "langgraph" / "support_bot.py"
CONVERSATION = "langgraph-u-1"


class SupportBot:
    def __init__(self, data: Path, env: dict[str, str]) -> None:
        self.data = data
        self.env = env

    def run(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, str(BOT), "--data", str(self.data), *args],
            env=os.environ | self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def say(self, text: str, *options: str) -> str:
        return self.run("say", "--user", "u-1", *options, text)

    def show(self) -> dict[str, Any]:
        return json.loads(self.run("show", "--user", "u-1"))

    def received(self) -> list[str]:
        outbox = self.data / "outbox.jsonl"
        lines = outbox.read_text().splitlines() if outbox.exists() else []
        return [json.loads(line)["text"] for line in lines]


@pytest.fixture
def support_bot(live_server, transactional_db, tmp_path) -> SupportBot:
    bot = BotFactory(name="LangGraph bot")  # no webhook URL: it reads the events feed
    return SupportBot(
        tmp_path / "data", {"HITLNEXT_URL": live_server.url, "HITLNEXT_API_KEY": bot.api_key}
    )


def texts() -> list[tuple[str, str]]:
    conversation = Conversation.objects.get(external_id=CONVERSATION)
    return list(conversation.messages.values_list("direction", "text"))


def test_the_graph_escalates_waits_across_processes_and_resumes_with_the_agents_words(
    support_bot: SupportBot,
):
    # 1. An ordinary turn: the model answers; both messages reach the agents' history.
    support_bot.say("Where is my parcel?", "--name", "Ada Lovelace")
    answer = 'About "Where is my parcel?": I can track parcels. Ask away!'
    assert support_bot.received() == [answer]
    assert texts() == [("incoming", "Where is my parcel?"), ("outgoing", answer)]

    # 2. The model calls escalate_to_human: a handoff with the conversation as history, then
    # interrupt(): the process exits with the graph waiting in its checkpoint.
    output = support_bot.say("I want to talk to a person")
    handoff = Handoff.objects.get()
    assert f"handoff #{handoff.pk}; waiting for an agent" in output
    assert handoff.status == Handoff.Status.PENDING
    assert handoff.conversation.end_user.variables == {"fullName": "Ada Lovelace"}
    handing_off = "Let me find you a person. Stay here: they will write to you in this chat."
    assert support_bot.received()[-1] == handing_off
    state = support_bot.show()
    assert state["next"] == ["wait_for_agent"]
    assert state["interrupts"] == [{"handoff_id": handoff.pk}]
    assert texts()[2:] == [
        ("incoming", "I want to talk to a person"),
        ("system", "You are being transferred to an agent."),
        ("outgoing", handing_off),
    ]

    # 3. While it waits, the user's words go to the agent and the bot says nothing.
    support_bot.say("Hello? It was due yesterday.")
    assert support_bot.received()[-1] == handing_off
    assert texts()[-1] == ("incoming", "Hello? It was due yesterday.")

    # 4. An agent answers; another process reads the feed and delivers it.
    agent = UserFactory(username="alice", first_name="Alice", last_name="Martin", online=True)
    handoff_services.assign_handoff(handoff=handoff, agent=agent)
    handoff_messaging.send_agent_message(handoff=handoff, agent=agent, text="Found it: Monday.")
    support_bot.run("poll")
    assert support_bot.received()[-3:] == [
        "You are being transferred to an agent.",
        "You have been assigned to our agent Alice Martin.",
        "Found it: Monday.",
    ]

    # 5. Resolved: yet another process sees handoff.resolved and resumes the graph with
    # Command(resume=...): the handoff's messages are in the state, the bot is back.
    handoff_services.resolve_handoff(handoff=handoff, agent=agent)
    assert "handoff.resolved: the graph resumed" in support_bot.run("poll")
    back = "I'm back. Anything else I can do for you?"
    assert support_bot.received()[-1] == back
    assert texts()[-1] == ("outgoing", back)
    state = support_bot.show()
    assert state["next"] == []
    assert state["handoff"] == {
        "id": handoff.pk,
        "status": "resolved",
        "exit_type": "handoff.resolved",
    }
    during = [
        (m["type"], m["name"], m["content"], (m["hitlnext"] or {}).get("agent"))
        for m in state["messages"]
    ]
    assert during[-6:] == [
        ("ai", None, handing_off, None),
        ("ai", "human_agent", "You are being transferred to an agent.", None),
        ("human", None, "Hello? It was due yesterday.", None),
        ("ai", "human_agent", "You have been assigned to our agent Alice Martin.", None),
        ("ai", "human_agent", "Found it: Monday.", "Alice Martin"),
        ("ai", None, back, None),
    ]

    # 6. The feed is read to its end once; the bot answers again.
    assert "read 0 events" in support_bot.run("poll")
    support_bot.say("Thanks!")
    assert support_bot.received()[-1] == 'About "Thanks!": I can track parcels. Ask away!'
