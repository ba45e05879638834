#!/usr/bin/env python3
"""A small bot integrated with hitlnext: the reference for a real bot's integration.

    python examples/example_bot.py --hitlnext http://127.0.0.1:8000 \\
        --api-key hk_... --secret whsec_... --port 8765

Needs the standard library and hitlnext's typed client (clients/python: httpx and the Standard
Webhooks library), which `dev.py` installs into .venv. It plays both sides of a chat platform
on its own port, so you can try it with curl:

    POST /user-says   {"user_id": "u-1", "text": "hi"}   a user writes to the bot
    GET  /inbox?user_id=u-1                               what that user has received
    POST /webhooks                                        hitlnext's signed events

What it does, as any bot integrating hitlnext should:
1. relays every message of the conversation, the user's and its own, to POST /api/v1/messages,
   so agents read the whole history;
2. answers the user only while hitlnext says `paused: false`;
3. hands off (POST /api/v1/handoffs) when the user types "agent";
4. verifies each webhook's Standard Webhooks signature (401 otherwise), ignores replays of a
   webhook-id it has seen, delivers `message.created` to the user, and takes the conversation
   back on `handoff.resolved` / `handoff.expired` / `handoff.rejected`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import httpx
from hitlnext_client import (
    Handoff,
    HitlnextClient,
    HitlnextError,
    InvalidWebhook,
    RelayedMessage,
    verify_webhook,
)

CHANNEL = "example"
HANDOFF_WORD = "agent"
ENDED = {"handoff.resolved", "handoff.expired", "handoff.rejected"}
MAX_BODY = 1024 * 1024


def say(line: str) -> None:
    print(line, flush=True)


# --- The bot -------------------------------------------------------------------------------


class ExampleBot:
    def __init__(self, *, hitlnext: str, api_key: str, secret: str) -> None:
        self.api = HitlnextClient(hitlnext, api_key)
        self.secret = secret
        self.lock = threading.Lock()
        self.inboxes: dict[str, list[dict]] = {}  # what each user has received
        self.paused: dict[str, bool] = {}  # conversation id -> a handoff is active
        self.seen_webhooks: set[str] = set()

    @staticmethod
    def conversation_id(user_id: str) -> str:
        return f"example-{user_id}"

    # The user's side ----------------------------------------------------------------------

    def user_says(self, user_id: str, text: str) -> dict:
        """A user wrote to the bot. Returns what the bot answered (nothing while paused)."""
        conversation = self.conversation_id(user_id)
        paused = self.relay(user_id, direction="incoming", text=text).paused
        self.paused[conversation] = paused
        if paused:
            say(f"[{user_id}] (an agent has the conversation: the bot stays quiet)")
            return {"paused": True, "replies": []}
        if text.strip().lower() == HANDOFF_WORD:
            reply = "Let me find you a person."
            self.answer(user_id, reply)
            handoff = self.hand_off(user_id)
            summary = {"id": handoff.id, "status": handoff.status}
            return {"paused": True, "replies": [reply], "handoff": summary}
        reply = f'You said "{text}". Type "{HANDOFF_WORD}" to talk to a person.'
        self.answer(user_id, reply)
        return {"paused": False, "replies": [reply]}

    def answer(self, user_id: str, text: str) -> None:
        self.deliver(user_id, {"from": "bot", "text": text})
        self.relay(user_id, direction="outgoing", text=text)

    def deliver(self, user_id: str, message: dict) -> None:
        """Show a message to the user: a real bot calls its chat platform here."""
        with self.lock:
            self.inboxes.setdefault(user_id, []).append(message)
        who = message.get("agent") or message["from"]
        say(f"[to {user_id}] {who}: {message['text']}")

    # hitlnext's API --------------------------------------------------------------------------

    def relay(
        self, user_id: str, *, direction: Literal["incoming", "outgoing"], text: str
    ) -> RelayedMessage:
        return self.api.relay_message(
            conversation_id=self.conversation_id(user_id),
            user_id=user_id,
            channel=CHANNEL,
            id=uuid.uuid4().hex,  # our own message id: a retry would not duplicate it
            direction=direction,
            text=text,
        )

    def hand_off(self, user_id: str) -> Handoff:
        # The client sends an Idempotency-Key: a retried request opens nothing twice.
        handoff = self.api.create_handoff(
            conversation_id=self.conversation_id(user_id),
            user_id=user_id,
            channel=CHANNEL,
            user={"fullName": f"Example user {user_id}"},
        )
        self.paused[self.conversation_id(user_id)] = True
        say(f"[{user_id}] handed off: handoff #{handoff.id} is {handoff.status}")
        return handoff

    # Webhooks --------------------------------------------------------------------------------

    def on_webhook(self, headers: dict[str, str], body: bytes) -> int:
        """Handle one webhook; returns the HTTP status to answer."""
        try:
            # Standard Webhooks: the signature, and a timestamp within 5 minutes (replays).
            event = verify_webhook(secret=self.secret, headers=headers, body=body)
        except InvalidWebhook as exc:
            say(f"refused a webhook: {exc}")
            return 401
        with self.lock:
            # Delivery is at least once: the same webhook-id may come again after a timeout.
            if event.id in self.seen_webhooks:
                return 200
            self.seen_webhooks.add(event.id)
        message, handoff = event.message, event.handoff
        if message is not None:
            self.deliver(
                message.user_id,
                {
                    "from": message.author,
                    "agent": message.agent.name if message.agent else None,
                    "text": message.text,
                },
            )
        elif handoff is not None and handoff.active:
            self.paused[handoff.conversation_id] = True
        elif handoff is not None and event.type in ENDED:
            self.paused[handoff.conversation_id] = False
            say(f"[{handoff.user_id}] {event.type}: the bot answers again")
            if event.type == "handoff.expired":
                # Answer after acknowledging: a webhook handler should return quickly.
                threading.Thread(
                    target=self.answer,
                    args=(handoff.user_id, "Sorry, nobody is available right now."),
                    daemon=True,
                ).start()
        return 200


# --- HTTP ----------------------------------------------------------------------------------


def make_handler(bot: ExampleBot) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes | None:
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY:
                self._reply(413, {"error": "too large"})
                return None
            return self.rfile.read(length)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/healthz":
                self._reply(200, {"ok": True})
            elif url.path == "/inbox":
                user_id = parse_qs(url.query).get("user_id", [""])[0]
                with bot.lock:
                    messages = list(bot.inboxes.get(user_id, []))
                paused = bot.paused.get(bot.conversation_id(user_id), False)
                self._reply(200, {"messages": messages, "paused": paused})
            else:
                self._reply(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = self._body()
            if body is None:
                return
            path = urlsplit(self.path).path
            if path == "/webhooks":
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = bot.on_webhook(headers, body)
                self._reply(status, {"ok": status == 200})
            elif path == "/user-says":
                try:
                    data = json.loads(body)
                    user_id, text = str(data["user_id"]), str(data["text"])
                except (ValueError, KeyError, TypeError):
                    self._reply(400, {"error": 'send {"user_id": "...", "text": "..."}'})
                    return
                try:
                    self._reply(200, bot.user_says(user_id, text))
                except (HitlnextError, httpx.HTTPError) as exc:
                    self._reply(502, {"error": f"hitlnext: {exc}"})
            else:
                self._reply(404, {"error": "not found"})

        def log_message(self, format: str, *args) -> None:
            pass  # the bot prints its own, clearer lines

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hitlnext", default=os.environ.get("HITLNEXT_URL", ""))
    parser.add_argument("--api-key", default=os.environ.get("HITLNEXT_API_KEY", ""))
    parser.add_argument("--secret", default=os.environ.get("HITLNEXT_WEBHOOK_SECRET", ""))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    args = parser.parse_args(argv)
    if not (args.hitlnext and args.api_key and args.secret):
        parser.error("--hitlnext, --api-key and --secret are required (see create_bot)")
    bot = ExampleBot(hitlnext=args.hitlnext, api_key=args.api_key, secret=args.secret)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(bot))
    host, port = server.server_address[:2]
    say(f"example bot listening on http://{host}:{port}/")
    say(f"  its webhook URL (give it to hitlnext): http://{host}:{port}/webhooks")
    say(f"""  try: curl -d '{{"user_id":"u-1","text":"hi"}}' http://{host}:{port}/user-says""")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
