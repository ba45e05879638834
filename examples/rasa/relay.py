#!/usr/bin/env python3
"""hitlnext's webhooks -> Rasa: agents' messages reach the user, the end of a handoff wakes
the bot up.

    RASA_URL=http://127.0.0.1:5005 HITLNEXT_WEBHOOK_SECRET=whsec_... \\
        python relay.py --port 5056       # give hitlnext http://<host>:5056/webhooks

Each webhook's Standard Webhooks signature is checked first (401 otherwise). Then, through
Rasa's HTTP API (`rasa run --enable-api`; `--rasa-token` if it has `--auth-token`):

- `message.created` (an agent's message, or a system notice such as "You have been assigned
  to our agent Alice") is appended to the conversation's tracker as a bot message, with
  `output_channel=latest&execute_side_effects=true`: Rasa sends it to the user on the channel
  they last wrote from, as it sends its own messages (any channel that can push: callback,
  Telegram, Facebook, Slack, Twilio, socket.io...), and it stays in the tracker's history;
- `handoff.resolved`, `handoff.expired`, `handoff.rejected` resume the conversation (the
  bot answers again) and clear the handoff slots; on `handoff.expired` the user is told.

If Rasa does not answer, the webhook is answered 503 and hitlnext sends it again later (in
order: a conversation's later events wait for it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import httpx
from hitlnext_client import Event, InvalidWebhook, verify_webhook

MAX_BODY = 1024 * 1024
ENDED = {"handoff.resolved", "handoff.expired", "handoff.rejected"}
EXPIRED_TEXT = "Sorry, nobody is available right now. I'm back: how can I help?"


def say(line: str) -> None:
    print(line, flush=True)


class Relay:
    def __init__(self, *, rasa_url: str, secret: str, rasa_token: str = "") -> None:
        self.rasa = httpx.Client(base_url=rasa_url.rstrip("/"), timeout=5)
        self.rasa_token = rasa_token
        self.secret = secret
        self.lock = threading.Lock()
        # Delivery is at least once: an event handled already is acknowledged, not redone.
        # (In memory for the example; keep them in your database, a day's worth is plenty.)
        self.handled: set[str] = set()

    def on_webhook(self, headers: dict[str, str], body: bytes) -> int:
        """Handle one webhook; returns the HTTP status to answer."""
        try:
            event = verify_webhook(secret=self.secret, body=body, headers=headers)
        except InvalidWebhook as exc:
            say(f"refused a webhook: {exc}")
            return 401
        with self.lock:
            if event.id in self.handled:
                return 200
        events = self.rasa_events(event)
        if events:
            conversation = self.conversation_of(event)
            try:
                self.append_to_tracker(conversation, events)
            except httpx.HTTPError as exc:
                say(f"Rasa did not take {event.type} {event.id}: {exc}")
                return 503  # hitlnext retries it, and holds the conversation's later events
            say(f"[{conversation}] {event.type} -> Rasa")
        with self.lock:
            self.handled.add(event.id)
        return 200

    @staticmethod
    def conversation_of(event: Event) -> str:
        if event.message is not None:
            return event.message.conversation_id
        assert event.handoff is not None
        return event.handoff.conversation_id

    @staticmethod
    def rasa_events(event: Event) -> list[dict[str, Any]]:
        """The Rasa tracker events an event of hitlnext becomes (none for the others)."""
        message = event.message
        if message is not None:
            # The metadata marks it as hitlnext's, so actions.py does not relay it back.
            hitlnext = {"message_id": message.id, "author": message.author}
            if message.agent is not None:
                hitlnext["agent"] = message.agent.name
            return [{"event": "bot", "text": message.text, "metadata": {"hitlnext": hitlnext}}]
        if event.type in ENDED:
            events: list[dict[str, Any]] = [
                {"event": "resume"},
                {"event": "slot", "name": "hitlnext_paused", "value": False},
                {"event": "slot", "name": "hitlnext_handoff_id", "value": None},
            ]
            if event.type == "handoff.expired":
                events.append({"event": "bot", "text": EXPIRED_TEXT, "metadata": {"hitlnext": {}}})
            return events
        return []

    def append_to_tracker(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        params = {"output_channel": "latest", "execute_side_effects": "true"}
        if self.rasa_token:
            params["token"] = self.rasa_token
        response = self.rasa.post(
            f"/conversations/{quote(conversation_id, safe='')}/tracker/events",
            params=params,
            json=events,
        )
        response.raise_for_status()


def make_handler(relay: Relay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int) -> None:
            body = json.dumps({"ok": status == 200}).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._reply(200 if self.path == "/healthz" else 404)

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if self.path != "/webhooks":
                self._reply(404)
            elif length > MAX_BODY:
                self._reply(413)
            else:
                body = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                self._reply(relay.on_webhook(headers, body))

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the relay prints its own lines

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rasa-url", default=os.environ.get("RASA_URL", ""))
    parser.add_argument("--rasa-token", default=os.environ.get("RASA_TOKEN", ""))
    parser.add_argument("--secret", default=os.environ.get("HITLNEXT_WEBHOOK_SECRET", ""))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5056, help="0 picks a free port")
    args = parser.parse_args(argv)
    if not (args.rasa_url and args.secret):
        parser.error("--rasa-url (RASA_URL) and --secret (HITLNEXT_WEBHOOK_SECRET) are required")
    relay = Relay(rasa_url=args.rasa_url, secret=args.secret, rasa_token=args.rasa_token)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(relay))
    port = server.server_address[1]
    say(f"relay listening on http://{args.host}:{port}/ (hitlnext's webhook URL: /webhooks)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
