"""The chaos run's clients, as the deployment's real ones behave: a bot posting messages and
handoffs (retrying the same ids, as the API invites), agents working handoffs through their
pages' endpoints, agent pages' sockets (hello and catch-up on every reconnect, as
static/hitlnext/js/live-socket.js does), and the bot's webhook endpoint.

Every request's outcome is recorded with its time, for the checks (bench/chaos_checks.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Origin

# --- The bot's webhook endpoint -----------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    seq: int  # arrival order at the receiver
    at: float  # time.monotonic()
    webhook_id: str
    event_id: str
    type: str
    signature_ok: bool


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # a worker killed mid-request resets its connection: expected here


class WebhookSink:
    """The bot's endpoint on 127.0.0.1: verifies each request's Standard Webhooks signature
    (independently of hitlnext's code), records it, answers 200."""

    def __init__(self, secret: str = "") -> None:
        self.secret = secret
        self.received: list[Delivery] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                sink.record({k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format, *args) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        signed = f"{headers.get('webhook-id')}.{headers.get('webhook-timestamp')}.".encode() + body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        given = [
            s.split(",", 1)[1] for s in headers.get("webhook-signature", "").split() if "," in s
        ]
        return any(hmac.compare_digest(expected, s) for s in given)

    def record(self, headers: dict[str, str], body: bytes) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        with self._lock:
            self.received.append(
                Delivery(
                    seq=len(self.received),
                    at=time.monotonic(),
                    webhook_id=headers.get("webhook-id", ""),
                    event_id=str(payload.get("id", "")),
                    type=str(payload.get("type", "")),
                    signature_ok=self.verify(headers, body),
                )
            )

    def __enter__(self) -> WebhookSink:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- Requests and their outcomes ------------------------------------------------------------


@dataclass
class Outcome:
    kind: str  # "message", "handoff", "assign", "send", "resolve", "presence"
    at: float  # time.monotonic() at the answer (or the failure)
    status: int | None  # None: no answer (connection refused, reset, timed out)
    error: str = ""


@dataclass
class Record:
    """Everything the clients did, for the checks."""

    outcomes: list[Outcome] = field(default_factory=list)
    # (conversation external id, message id) -> accepted (2xx) or not
    bot_messages: dict[tuple[str, str], bool] = field(default_factory=dict)
    # agent message text -> accepted (the answer came) or unknown
    agent_messages: dict[str, bool] = field(default_factory=dict)
    handoffs: dict[int, str] = field(default_factory=dict)  # handoff id -> conversation
    timers: int = 0  # handoffs created with a timeout
    began: float = 0.0  # time.monotonic() when the load started
    began_wall: float = 0.0  # the same moment, time.time()

    def note(self, kind: str, status: int | None, error: str = "") -> None:
        self.outcomes.append(Outcome(kind, time.monotonic(), status, error))


class Servers:
    """The Daphne processes' URLs, as a load balancer would hand them out: round robin, and
    the next one when a request finds no server."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self._next = 0

    def pick(self) -> str:
        self._next += 1
        return self.urls[self._next % len(self.urls)]


async def request(
    client: httpx.AsyncClient,
    servers: Servers,
    record: Record,
    kind: str,
    method: str,
    path: str,
    *,
    retry_until: float = 0.0,
    **kwargs,
) -> httpx.Response | None:
    """One request (retried on another server after no answer or a 5xx while before
    `retry_until`, as a bot retrying the same id would); every attempt recorded."""
    while True:
        response: httpx.Response | None = None
        try:
            response = await client.request(method, servers.pick() + path, **kwargs)
        except httpx.HTTPError as error:
            record.note(kind, None, type(error).__name__)
        else:
            record.note(kind, response.status_code)
            if response.status_code < 500:
                return response
        if time.monotonic() >= retry_until:
            return response
        await asyncio.sleep(0.3 + random.random() * 0.7)


# --- The bot ---------------------------------------------------------------------------------


@dataclass
class Bot:
    api_key: str
    servers: Servers
    record: Record
    conversations: list[str]
    retry_for: float = 30.0
    count: int = 0

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=15,
            limits=httpx.Limits(max_connections=64),
        )

    async def post_message(self, client: httpx.AsyncClient, conversation: str) -> None:
        self.count += 1
        message_id = f"m-{self.count}"
        key = (conversation, message_id)
        self.record.bot_messages[key] = False
        body = {
            "conversation_id": conversation,
            "user_id": f"u-{conversation}",
            "channel": "web",
            "id": message_id,
            "direction": "incoming",
            "text": f"chaos message {self.count}",
        }
        response = await request(
            client,
            self.servers,
            self.record,
            "message",
            "POST",
            "/api/v1/messages",
            json=body,
            retry_until=time.monotonic() + self.retry_for,
        )
        self.record.bot_messages[key] = response is not None and 200 <= response.status_code < 300

    async def start_handoff(
        self, client: httpx.AsyncClient, conversation: str, timeout: int
    ) -> int | None:
        body: dict = {
            "conversation_id": conversation,
            "user_id": f"u-{conversation}",
            "channel": "web",
            "user": {"fullName": f"Chaos {conversation}"},
        }
        if timeout:
            body["timeout_seconds"] = timeout
        response = await request(
            client,
            self.servers,
            self.record,
            "handoff",
            "POST",
            "/api/v1/handoffs",
            json=body,
            headers={"Idempotency-Key": secrets.token_hex(12)},
            retry_until=time.monotonic() + self.retry_for,
        )
        if response is None or response.status_code not in (200, 201):
            return None
        handoff = response.json()
        self.record.handoffs[handoff["id"]] = conversation
        if timeout and response.status_code == 201:
            self.record.timers += 1
        return handoff["id"]


# --- Agents ------------------------------------------------------------------------------------

CSRF = "chaos" + "0" * 27  # a CSRF secret the client chooses: sent as cookie and header


class Agent:
    """An agent working through their page's endpoints (plain form posts, no htmx)."""

    def __init__(self, name: str, session_key: str, servers: Servers, record: Record) -> None:
        self.name = name
        self.servers = servers
        self.record = record
        self.client = httpx.AsyncClient(
            headers={
                "Cookie": f"sessionid={session_key}; csrftoken={CSRF}",
                "X-CSRFToken": CSRF,
            },
            timeout=15,
            follow_redirects=False,
        )
        self.sent = 0

    async def post(self, kind: str, path: str, data: dict, *, retry: bool) -> int | None:
        response = await request(
            self.client,
            self.servers,
            self.record,
            kind,
            "POST",
            path,
            data=data,
            retry_until=time.monotonic() + (20 if retry else 0),
        )
        return None if response is None else response.status_code

    async def work(self, handoff_id: int, *, pause: Callable[[], float]) -> None:
        """Go online, take the handoff, answer a few times, resolve it."""
        await self.post("presence", "/presence/", {"online": "true"}, retry=True)
        if await self.post("assign", f"/handoffs/{handoff_id}/assign/", {}, retry=True) != 302:
            return  # taken, expired or resolved meanwhile: a 409 refusal
        for _ in range(random.randint(1, 3)):
            await asyncio.sleep(pause())
            self.sent += 1
            text = f"agent {self.name} reply {self.sent} {secrets.token_hex(4)}"
            self.record.agent_messages[text] = False
            status = await self.post(
                "send", f"/handoffs/{handoff_id}/send/", {"text": text}, retry=False
            )
            self.record.agent_messages[text] = status == 302
        await asyncio.sleep(pause())
        await self.post("resolve", f"/handoffs/{handoff_id}/resolve/", {}, retry=True)

    async def close(self) -> None:
        await self.client.aclose()


# --- Agent pages --------------------------------------------------------------------------------

APPEND = re.compile(r'<div id="conversation-(\d+)-messages" hx-swap-oob="beforeend">')
MESSAGE = re.compile(r'<article id="message-(\d+)"')
RELOAD = 'id="conversation-reload"'
SHOWN_MAX = 100  # handoffs.consumers.SHOWN_MAX


@dataclass
class Page:
    """One agent's open page showing one handoff: its socket, and the messages it shows."""

    name: str
    session_key: str
    handoff_id: int
    conversation_id: int
    servers: Servers
    shown: set[int] = field(default_factory=set)
    connects: int = 0
    drops: list[float] = field(default_factory=list)  # when the socket closed under it
    reloads: int = 0
    connected: bool = False
    failed_connects: int = 0
    socket: ClientConnection | None = None  # the open connection, if any
    # Missing messages before the catch-up the page asks for every minute (said once at the
    # end of the run): what it recovers, and what it cannot.
    missing_before_hello: set[int] = field(default_factory=set)

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": f"sessionid={self.session_key}"}

    def take(self, frame: str) -> None:
        if RELOAD in frame:
            self.reloads += 1  # the page would reload the panel: handled by the caller
        for match in APPEND.finditer(frame):
            if int(match.group(1)) != self.conversation_id:
                continue
            end = frame.find("hx-swap-oob", match.end())  # the next fragment, if any
            chunk = frame[match.end() :] if end < 0 else frame[match.end() : end]
            self.shown.update(int(m) for m in MESSAGE.findall(chunk))

    def hello(self, action: str = "hello") -> str:
        # As live-socket.js's tell(): the newest message the log shows (0: none yet) and the
        # ids of the latest ones, so the server also sends those missing between them.
        return json.dumps(
            {
                "action": action,
                "handoff": self.handoff_id,
                "after": max(self.shown, default=0),
                "notes_after": None,
                "shown": sorted(self.shown)[-SHOWN_MAX:],
            }
        )

    async def reload_panel(self) -> None:
        """What a reload shows: the panel's messages and every older page of them."""
        async with httpx.AsyncClient(headers=self.headers, timeout=15) as client:
            url = self.servers.pick()
            response = await client.get(f"{url}/handoffs/{self.handoff_id}/")
            ids = {int(m) for m in MESSAGE.findall(response.text)}
            while ids:
                older = await client.get(
                    f"{url}/handoffs/{self.handoff_id}/messages/", params={"before": min(ids)}
                )
                more = {int(m) for m in MESSAGE.findall(older.text)} - ids
                if not more:
                    break
                ids |= more
            self.shown |= ids

    async def run(self, stop: asyncio.Event) -> None:
        """Connected until `stop`; after a drop, reconnect after 1-3 s (htmx's retry), to
        whichever server the balancer gives."""
        while not stop.is_set():
            url = self.servers.pick().replace("http://", "ws://") + "/ws/agent/"
            try:
                async with websockets.connect(
                    url,
                    origin=Origin(url.replace("ws://", "http://").split("/ws/")[0]),
                    additional_headers=self.headers,
                    open_timeout=10,
                    ping_interval=None,
                    max_queue=None,
                ) as ws:
                    await ws.send(self.hello())
                    self.connects += 1
                    self.connected = True
                    self.socket = ws
                    reader = asyncio.ensure_future(self._read(ws))
                    stopping = asyncio.ensure_future(stop.wait())
                    await asyncio.wait({reader, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    stopping.cancel()
                    self.socket = None
                    if not reader.done():
                        reader.cancel()
                        return
                    self.connected = False
                    self.drops.append(time.monotonic())
            except (OSError, websockets.WebSocketException, TimeoutError):
                self.connected = False
                self.failed_connects += 1
            await asyncio.sleep(1 + random.random() * 2)

    async def say_hello(self) -> bool:
        """The page's periodic catch-up (a watch naming what it shows, every minute), now;
        False without a socket."""
        ws = self.socket
        if ws is None:
            return False
        try:
            await ws.send(self.hello("watch"))
        except websockets.WebSocketException:
            return False
        return True

    async def _read(self, ws) -> None:
        try:
            async for frame in ws:
                if isinstance(frame, str):
                    self.take(frame)
                    if RELOAD in frame:
                        await self.reload_panel()
        except websockets.ConnectionClosed:
            pass
