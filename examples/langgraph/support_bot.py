#!/usr/bin/env python3
"""Runs support_graph.py for a bot: each command is one short process, and the graph waits
for a person in its SQLite checkpoint between them.

    export HITLNEXT_URL=http://127.0.0.1:8000 HITLNEXT_API_KEY=hk_...
    python support_bot.py say --user u-1 "Where is my parcel?"      # the bot answers
    python support_bot.py say --user u-1 "I want to talk to a person"  # hands off, exits
    python support_bot.py say --user u-1 "Hello?"      # relayed to the agent; the bot is quiet
    python support_bot.py poll      # reads GET /api/v1/events: agents' messages reach the user;
                                    # handoff.resolved resumes the waiting graph
    python support_bot.py show --user u-1                # the thread's state, as JSON

`--data DIR` (default: langgraph-data/ beside this file) holds the checkpoints
(checkpoints.sqlite), the events cursor and what each waiting conversation said meanwhile
(feed.json), and what the user received (outbox.jsonl: a real bot sends it on its channel
instead, in `deliver`).

This bot reads the events feed, so it needs no public URL; a bot with a webhook URL does the
same in its webhook handler (hitlnext_client.verify_webhook, then `on_event`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hitlnext_client import Event, HitlnextClient
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command
from support_graph import Outcome, build_graph

CHANNEL = "langgraph"
ENDED = ("handoff.resolved", "handoff.expired", "handoff.rejected")


def say(line: str) -> None:
    print(line, flush=True)


class Feed:
    """feed.json: the events cursor, and each waiting conversation's messages so far (what
    resumes its graph). A crash before a page's cursor is saved reads that page again: a
    message may reach the user twice (as with webhooks, at least once), never be lost."""

    def __init__(self, path: Path) -> None:
        self.path = path
        data = json.loads(path.read_text()) if path.exists() else {}
        self.cursor: str | None = data.get("cursor")
        self.waiting: dict[str, list[dict[str, Any]]] = data.get("waiting", {})

    def save(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"cursor": self.cursor, "waiting": self.waiting}))
        os.replace(temporary, self.path)


class SupportBot:
    def __init__(self, data: Path, client: HitlnextClient, graph: CompiledStateGraph) -> None:
        self.data = data
        self.client = client
        self.graph = graph
        self.feed = Feed(data / "feed.json")

    @staticmethod
    def config(conversation_id: str) -> Any:
        return {"configurable": {"thread_id": conversation_id}}

    def waiting(self, conversation_id: str) -> bool:
        """Is this conversation's graph stopped at wait_for_agent (a handoff is active)?"""
        return bool(self.graph.get_state(self.config(conversation_id)).interrupts)

    def user_says(self, conversation_id: str, user_id: str, text: str, user: dict) -> None:
        message_id = uuid.uuid4().hex
        if self.waiting(conversation_id):
            # An agent has the conversation: relay it (agents see it live) and keep it for
            # the state; the bot says nothing.
            self.client.relay_message(
                conversation_id=conversation_id,
                user_id=user_id,
                channel=CHANNEL,
                id=message_id,
                direction="incoming",
                text=text,
            )
            now = datetime.now(UTC).isoformat()
            item = {"id": message_id, "author": "user", "text": text, "created_at": now}
            self.keep(conversation_id, item)
            say(f"[{user_id}] (an agent has the conversation: the bot stays quiet)")
            return
        update: dict[str, Any] = {
            "conversation_id": conversation_id,
            "user_id": user_id,
            "channel": CHANNEL,
            "messages": [HumanMessage(text, id=message_id)],
        }
        if user:  # else the state keeps what it knew
            update["user"] = user
        result = self.graph.invoke(update, self.config(conversation_id))
        if result.get("__interrupt__"):
            handoff = result["handoff"]
            say(f"[{user_id}] handed off: handoff #{handoff['id']}; waiting for an agent")

    def keep(self, conversation_id: str, item: dict[str, Any]) -> None:
        kept = self.feed.waiting.setdefault(conversation_id, [])
        if all(earlier["id"] != item["id"] for earlier in kept):
            kept.append(item)
            self.feed.save()

    def poll(self) -> int:
        """Read the events feed to its end; returns how many events were read."""
        count = 0
        for page in self.client.iter_events(after=self.feed.cursor):
            for event in page.events:
                self.on_event(event)
                count += 1
            self.feed.cursor = page.next_cursor
            self.feed.save()
        return count

    def on_event(self, event: Event) -> None:
        message = event.message
        if message is not None:
            deliver(self.data, message.conversation_id, message.user_id, message.text)
            if self.waiting(message.conversation_id):
                agent = message.agent.name if message.agent else None
                item = {
                    "id": message.id,
                    "author": message.author,
                    "text": message.text,
                    "created_at": message.created_at.isoformat(),
                    "agent": agent,
                }
                self.keep(message.conversation_id, item)
        elif event.type in ENDED and event.handoff is not None:
            conversation_id = event.handoff.conversation_id
            if not self.waiting(conversation_id):
                return  # not a handoff this graph is waiting on
            outcome: Outcome = {
                "type": event.type,
                "handoff": event.data["handoff"],
                # In the order they were written (the user's are kept as they come, the
                # agents' as the feed is read).
                "messages": sorted(
                    self.feed.waiting.get(conversation_id, []),
                    key=lambda m: datetime.fromisoformat(m["created_at"]),
                ),
            }
            self.graph.invoke(Command(resume=outcome), self.config(conversation_id))
            self.feed.waiting.pop(conversation_id, None)
            self.feed.save()
            say(f"[{event.handoff.user_id}] {event.type}: the graph resumed")

    def show(self, conversation_id: str) -> dict[str, Any]:
        state = self.graph.get_state(self.config(conversation_id))
        return {
            "next": list(state.next),
            "interrupts": [interrupt.value for interrupt in state.interrupts],
            "handoff": state.values.get("handoff"),
            "messages": [
                {
                    "type": message.type,
                    "id": message.id,
                    "name": message.name,
                    "content": message.content,
                    "hitlnext": message.additional_kwargs.get("hitlnext"),
                }
                for message in state.values.get("messages", [])
            ],
        }


def deliver(data: Path, conversation_id: str, user_id: str, text: str) -> None:
    """Send a text to the user: a real bot calls its chat platform here."""
    with (data / "outbox.jsonl").open("a") as outbox:
        outbox.write(json.dumps({"conversation_id": conversation_id, "text": text}) + "\n")
    say(f"[to {user_id}] {text}")


@contextmanager
def support_bot(data: Path) -> Iterator[SupportBot]:
    data.mkdir(parents=True, exist_ok=True)
    with (
        HitlnextClient.from_env() as client,
        SqliteSaver.from_conn_string(str(data / "checkpoints.sqlite")) as checkpointer,
    ):
        graph = build_graph(
            client=client,
            deliver=lambda conversation, user, text: deliver(data, conversation, user, text),
            checkpointer=checkpointer,
        )
        yield SupportBot(data, client, graph)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parent / "langgraph-data")
    commands = parser.add_subparsers(dest="command", required=True)
    say_parser = commands.add_parser("say", help="a user writes to the bot")
    say_parser.add_argument("--user", required=True, help="the user's id")
    say_parser.add_argument("--name", help="the user's name, shown to agents")
    say_parser.add_argument("text")
    commands.add_parser("poll", help="read hitlnext's events feed to its end")
    show_parser = commands.add_parser("show", help="print a conversation's graph state")
    show_parser.add_argument("--user", required=True)
    args = parser.parse_args(argv)
    if not (os.environ.get("HITLNEXT_URL") and os.environ.get("HITLNEXT_API_KEY")):
        parser.error("set HITLNEXT_URL and HITLNEXT_API_KEY (see manage.py create_bot)")
    with support_bot(args.data) as bot:
        if args.command == "say":
            user = {"fullName": args.name} if args.name else {}
            bot.user_says(f"langgraph-{args.user}", args.user, args.text, user)
        elif args.command == "poll":
            say(f"read {bot.poll()} events")
        else:
            print(json.dumps(bot.show(f"langgraph-{args.user}"), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
