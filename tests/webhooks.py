"""Test doubles for the bot's side of webhooks: a real HTTP receiver and an independent
signature verifier written from the Standard Webhooks spec text (not from our code)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (cut short when the receiver stops)


class WebhookReceiver:
    """A bot's endpoint on 127.0.0.1: records every request, answers as told.

    Replies come from `replies` (a queue, first in first out), else from `respond(request)`
    if set, else 200.
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answered = 0
        self.replies: deque[Reply] = deque()
        self.respond: Callable[[Received], Reply | None] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.got_request = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                request = Received(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                reply = receiver._record(request)
                if reply.delay and receiver._stopping.wait(reply.delay):
                    return
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    with receiver._lock:
                        receiver.answered += 1
                except OSError:  # the client gave up (timeout): nothing to answer
                    pass

            def log_message(self, format, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _record(self, request: Received) -> Reply:
        with self._lock:
            self.received.append(request)
            if self.replies:
                reply = self.replies.popleft()
            else:
                reply = (self.respond(request) if self.respond else None) or Reply()
        self.got_request.set()
        return reply

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks"

    def ids(self) -> list[str]:
        with self._lock:
            return [r.webhook_id for r in self.received]

    def payloads(self) -> list[dict]:
        with self._lock:
            return [r.json() for r in self.received]

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()


def verify(*, secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks: the signed content is "{msg_id}.{timestamp}.{payload}", signed with
    HMAC-SHA256 keyed by the base64-decoded secret (after its "whsec_" prefix); the header
    holds space-separated "v1,<base64 signature>" entries, any one of which may match."""
    key = base64.b64decode(secret.split("_", 1)[1])
    content = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body.decode()}"
    expected = base64.b64encode(hmac.new(key, content.encode(), hashlib.sha256).digest())
    for entry in headers["webhook-signature"].split(" "):
        version, _, sig = entry.partition(",")
        if version == "v1" and hmac.compare_digest(sig.encode(), expected):
            return True
    return False


def emit(bot, conversation=None, **data):
    """A message.created event for the bot, recorded as the services do (its deliveries too)."""
    from django.db import transaction

    from webhooks.events import record_event

    with transaction.atomic():
        return record_event(bot=bot, type="message.created", data=data, conversation=conversation)


def all_delivered() -> bool:
    from webhooks.models import Delivery

    return not Delivery.objects.exclude(status=Delivery.Status.DELIVERED).exists()
