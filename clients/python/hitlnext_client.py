"""A small typed client for hitlnext's bot API (v1), and a webhook verifier.

    from hitlnext_client import HitlnextClient, verify_webhook

    with HitlnextClient("https://hitl.example.com", api_key="hk_...") as hitl:
        handoff = hitl.create_handoff(conversation_id="th-42", user_id="u-7", channel="web")
        relayed = hitl.relay_message(conversation_id="th-42", user_id="u-7", channel="web",
                                     id="m-3", direction="incoming", text="Anyone there?")
        if relayed.paused:
            ...  # an agent has the conversation: the bot stays quiet

    event = verify_webhook(secret="whsec_...", body=raw_body, headers=request_headers)

One method per operation of /api/v1/openapi.json, named after its operation id. Results are
frozen dataclasses; fields the server adds later are ignored, never an error. Errors raise
HitlnextError (a subclass per status) carrying the server's `detail` and its per-field
`errors`. 429 and 503 are retried after the server's Retry-After, a bounded number of times.
Needs httpx and standardwebhooks.
"""

from __future__ import annotations

import binascii
import dataclasses
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypedDict, TypeVar

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

__all__ = [
    "OPERATIONS",
    "Agent",
    "AgentRef",
    "AuthenticationFailed",
    "Conflict",
    "Delivery",
    "DeliveryEvent",
    "DeliveryPage",
    "Event",
    "EventPage",
    "FieldError",
    "Handoff",
    "HandoffRef",
    "HistoryItem",
    "HitlnextClient",
    "HitlnextError",
    "InvalidRequest",
    "InvalidWebhook",
    "Label",
    "NotFound",
    "OutboundMessage",
    "QueuePlace",
    "RateLimited",
    "Rating",
    "RelayedMessage",
    "Unavailable",
    "event_from_json",
    "verify_webhook",
]

API_PREFIX = "/api/v1"

HandoffStatus = Literal["pending", "assigned", "resolved", "rejected", "expired"]
Direction = Literal["incoming", "outgoing"]
Priority = Literal["normal", "high"]
DeliveryFilter = Literal["failing", "pending", "delivered", "failed"]

# operation id -> (HTTP method, path under /api/v1): what each method calls. A test checks it
# against the server's OpenAPI document, so the client cannot drift from the contract.
OPERATIONS: dict[str, tuple[str, str]] = {
    "create_handoff": ("POST", "/handoffs"),
    "get_handoff": ("GET", "/handoffs/{handoff_id}"),
    "reject_handoff": ("POST", "/handoffs/{handoff_id}/reject"),
    "rate_handoff": ("POST", "/handoffs/{handoff_id}/rating"),
    "relay_message": ("POST", "/messages"),
    "list_agents": ("GET", "/agents"),
    "list_events": ("GET", "/events"),
    "list_labels": ("GET", "/labels"),
    "list_deliveries": ("GET", "/deliveries"),
    "show_typing": ("POST", "/typing"),
}


# --- Results ----------------------------------------------------------------------------------

_T = TypeVar("_T")


def _datetime(value: str | None) -> datetime | None:
    # The server writes "2026-03-01T12:00:00Z"; fromisoformat reads "Z" from Python 3.11.
    return datetime.fromisoformat(value) if value else None


def _build(cls: type[_T], data: Mapping[str, Any], **converted: Any) -> _T:
    """The dataclass from a JSON object: its own fields only (later additions are ignored)."""
    names = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {key: value for key, value in data.items() if key in names}
    return cls(**(values | converted))


@dataclasses.dataclass(frozen=True)
class AgentRef:
    """An agent as the user may be shown: name and picture."""

    id: int
    name: str
    avatar_url: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> AgentRef | None:
        return _build(cls, data) if data else None


@dataclasses.dataclass(frozen=True)
class QueuePlace:
    position: int
    estimated_wait_seconds: int | None
    agents_online: int


@dataclasses.dataclass(frozen=True)
class Handoff:
    id: int
    status: HandoffStatus
    conversation_id: str
    user_id: str
    channel: str
    language: str
    priority: Priority
    labels: list[str]
    agent: AgentRef | None
    created_at: datetime
    assigned_at: datetime | None
    resolved_at: datetime | None
    expires_at: datetime | None
    queue: QueuePlace | None
    # create_handoff only: True when this call created it (201), False when it is the
    # conversation's active handoff (200).
    created: bool = False

    @property
    def active(self) -> bool:
        return self.status in ("pending", "assigned")

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, created: bool = False) -> Handoff:
        queue = data.get("queue")
        return _build(
            cls,
            data,
            agent=AgentRef.from_json(data.get("agent")),
            created_at=_datetime(data["created_at"]),
            assigned_at=_datetime(data.get("assigned_at")),
            resolved_at=_datetime(data.get("resolved_at")),
            expires_at=_datetime(data.get("expires_at")),
            queue=_build(QueuePlace, queue) if queue else None,
            created=created,
        )


@dataclasses.dataclass(frozen=True)
class HandoffRef:
    id: int
    status: HandoffStatus


@dataclasses.dataclass(frozen=True)
class RelayedMessage:
    id: str
    handoff: HandoffRef | None
    # True while the conversation has an active handoff: the bot must not answer the user.
    paused: bool
    # False when this message id had been relayed before (nothing was stored twice).
    created: bool = True

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, created: bool) -> RelayedMessage:
        handoff = data.get("handoff")
        return _build(
            cls, data, handoff=_build(HandoffRef, handoff) if handoff else None, created=created
        )


@dataclasses.dataclass(frozen=True)
class Rating:
    score: int
    comment: str
    source: Literal["webchat", "bot"]
    created_at: datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rating:
        return _build(cls, data, created_at=_datetime(data["created_at"]))


@dataclasses.dataclass(frozen=True)
class Agent:
    id: int
    username: str
    name: str
    online: bool
    open_handoffs: int
    capacity: int | None  # None: no limit


@dataclasses.dataclass(frozen=True)
class Label:
    name: str
    color: str


@dataclasses.dataclass(frozen=True)
class Attachment:
    """A file an agent attached: `url` is a signed link that expires (by default 24 h after
    the event), so download it when the event arrives."""

    url: str
    name: str
    content_type: str
    size: int


@dataclasses.dataclass(frozen=True)
class OutboundMessage:
    """What `message.created` asks the bot to deliver to its user."""

    id: str
    conversation_id: str
    user_id: str
    channel: str
    author: Literal["agent", "system"]
    agent: AgentRef | None
    text: str
    created_at: datetime
    attachments: tuple[Attachment, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OutboundMessage:
        return _build(
            cls,
            data,
            agent=AgentRef.from_json(data.get("agent")),
            created_at=_datetime(data["created_at"]),
            attachments=tuple(_build(Attachment, a) for a in data.get("attachments") or ()),
        )


@dataclasses.dataclass(frozen=True)
class Event:
    """One event, as a webhook delivers it and GET /events lists it. `data` is the JSON
    object of its type (README "Webhooks"); `handoff` and `message` read it typed."""

    id: str
    type: str
    created_at: datetime
    data: dict[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        return _build(cls, data, created_at=_datetime(data["created_at"]))

    @property
    def handoff(self) -> Handoff | None:
        """The handoff of every handoff.* event; None for other types."""
        handoff = self.data.get("handoff")
        return Handoff.from_json(handoff) if handoff else None

    @property
    def message(self) -> OutboundMessage | None:
        """The message of a message.created event; None for other types."""
        message = self.data.get("message")
        return OutboundMessage.from_json(message) if message else None


@dataclasses.dataclass(frozen=True)
class EventPage:
    events: list[Event]
    # Pass it as `after` to read on; an empty page returns the same cursor.
    next_cursor: str


@dataclasses.dataclass(frozen=True)
class DeliveryEvent:
    id: str
    type: str
    created_at: datetime


@dataclasses.dataclass(frozen=True)
class Delivery:
    id: int
    event: DeliveryEvent
    conversation_id: str | None
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str
    next_attempt_at: datetime | None
    sending: bool
    delivered_at: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Delivery:
        event = data["event"]
        return _build(
            cls,
            data,
            event=_build(DeliveryEvent, event, created_at=_datetime(event["created_at"])),
            last_attempt_at=_datetime(data.get("last_attempt_at")),
            next_attempt_at=_datetime(data.get("next_attempt_at")),
            delivered_at=_datetime(data.get("delivered_at")),
            sending=bool(data.get("sending", False)),
        )


@dataclasses.dataclass(frozen=True)
class DeliveryPage:
    webhook_enabled: bool
    deliveries: list[Delivery]
    next_cursor: str | None  # pass it as `before` for older ones; None: no more


class HistoryItem(TypedDict, total=False):
    """One earlier message for create_handoff's `history`: `id` and `direction` required."""

    id: str
    direction: Direction
    text: str
    payload: dict[str, Any]
    created_at: str  # ISO-8601; no offset: UTC


# --- Errors -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FieldError:
    field: str  # dotted path, e.g. "history.3.direction"; "" for none
    message: str


class HitlnextError(Exception):
    """The API refused the request: `status`, the server's `detail`, and `errors` naming each
    failing field. str() reads as the server wrote it."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: Sequence[FieldError] = (),
        *,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.errors = list(errors)
        self.retry_after = retry_after
        fields = "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in errors)
        super().__init__(f"{status} {detail}" + (f" ({fields})" if fields else ""))


class AuthenticationFailed(HitlnextError):
    """401: missing or wrong API key."""


class NotFound(HitlnextError):
    """404: unknown id, or another bot's object."""


class Conflict(HitlnextError):
    """409: the handoff's state forbids it, or an Idempotency-Key reused for another body."""


class InvalidRequest(HitlnextError):
    """400, 413, 422: malformed, too large, or invalid fields (each named in `errors`)."""


class RateLimited(HitlnextError):
    """429 still, after the retries: too many requests with this key."""


class Unavailable(HitlnextError):
    """503 still, after the retries: the database is unavailable (nothing was written)."""


_ERRORS: dict[int, type[HitlnextError]] = {
    400: InvalidRequest,
    401: AuthenticationFailed,
    404: NotFound,
    409: Conflict,
    413: InvalidRequest,
    422: InvalidRequest,
    429: RateLimited,
    503: Unavailable,
}
_RETRIED = frozenset({429, 503})


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


def _error(response: httpx.Response) -> HitlnextError:
    try:
        body = response.json()
        detail = str(body["detail"])
        errors = [FieldError(str(e["field"]), str(e["message"])) for e in body.get("errors", [])]
    except (ValueError, KeyError, TypeError):  # not our JSON: a proxy's page, say
        detail, errors = response.reason_phrase or "Unexpected answer", []
    cls = _ERRORS.get(response.status_code, HitlnextError)
    return cls(response.status_code, detail, errors, retry_after=_retry_after(response))


# --- The client -------------------------------------------------------------------------------


def _body(**fields: Any) -> dict[str, Any]:
    """The JSON body: the fields given, leaving out the ones left at None (server default)."""
    return {name: value for name, value in fields.items() if value is not None}


class HitlnextClient:
    """hitlnext's bot API. `base_url` is the server's root, e.g. "https://hitl.example.com".

    429 (rate limit) and 503 (database unavailable: nothing was written) are retried after
    the server's Retry-After, at most `max_retries` times and never when it asks for more
    than `max_retry_wait` seconds; then the error is raised. Both mean the request was not
    carried out, so retrying a POST is safe; POSTs carry an Idempotency-Key all the same.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        max_retries: int = 3,
        max_retry_wait: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + API_PREFIX,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "hitlnext-client/1"},
            timeout=timeout,
            transport=transport,
        )
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self._sleep = sleep

    @classmethod
    def from_env(cls, **options: Any) -> HitlnextClient:
        """From HITLNEXT_URL and HITLNEXT_API_KEY."""
        return cls(os.environ["HITLNEXT_URL"], os.environ["HITLNEXT_API_KEY"], **options)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HitlnextClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(
        self,
        operation: str,
        *,
        path_params: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        json_body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        method, path = OPERATIONS[operation]
        url = path.format(**(path_params or {}))
        headers = {}
        if method == "POST":
            # The same key on every retry: the server answers a replay with the first answer.
            headers["Idempotency-Key"] = idempotency_key or uuid.uuid4().hex
        query = {k: v for k, v in (params or {}).items() if v is not None}
        retries = 0
        while True:
            response = self._http.request(
                method, url, params=query, json=json_body, headers=headers
            )
            if response.status_code < 400:
                return response
            wait = _retry_after(response)
            if (
                response.status_code not in _RETRIED
                or retries >= self.max_retries
                or wait is None
                or wait > self.max_retry_wait
            ):
                raise _error(response)
            retries += 1
            self._sleep(wait)

    # Handoffs ---------------------------------------------------------------------------------

    def create_handoff(
        self,
        *,
        conversation_id: str,
        user_id: str,
        channel: str,
        language: str | None = None,
        user: Mapping[str, Any] | None = None,
        history: Sequence[HistoryItem] | None = None,
        timeout_seconds: int | None = None,
        labels: Sequence[str] | None = None,
        priority: Priority | None = None,
        idempotency_key: str | None = None,
    ) -> Handoff:
        """Start a handoff, or get the conversation's active one (`created` says which)."""
        response = self._call(
            "create_handoff",
            json_body=_body(
                conversation_id=conversation_id,
                user_id=user_id,
                channel=channel,
                language=language,
                user=dict(user) if user is not None else None,
                history=[dict(item) for item in history] if history is not None else None,
                timeout_seconds=timeout_seconds,
                labels=list(labels) if labels is not None else None,
                priority=priority,
            ),
            idempotency_key=idempotency_key,
        )
        return Handoff.from_json(response.json(), created=response.status_code == 201)

    def get_handoff(self, handoff_id: int) -> Handoff:
        response = self._call("get_handoff", path_params={"handoff_id": handoff_id})
        return Handoff.from_json(response.json())

    def reject_handoff(self, handoff_id: int, *, idempotency_key: str | None = None) -> Handoff:
        """The bot takes the conversation back (the user left...); Conflict once it ended."""
        response = self._call(
            "reject_handoff",
            path_params={"handoff_id": handoff_id},
            idempotency_key=idempotency_key,
        )
        return Handoff.from_json(response.json())

    def rate_handoff(
        self,
        handoff_id: int,
        *,
        score: int,
        comment: str | None = None,
        idempotency_key: str | None = None,
    ) -> Rating:
        """The user's satisfaction (1-5) with a resolved handoff; Conflict otherwise."""
        response = self._call(
            "rate_handoff",
            path_params={"handoff_id": handoff_id},
            json_body=_body(score=score, comment=comment),
            idempotency_key=idempotency_key,
        )
        return Rating.from_json(response.json())

    # Messages ---------------------------------------------------------------------------------

    def relay_message(
        self,
        *,
        conversation_id: str,
        user_id: str,
        channel: str,
        id: str,
        direction: Direction,
        text: str | None = None,
        payload: Mapping[str, Any] | None = None,
        created_at: datetime | str | None = None,
        idempotency_key: str | None = None,
    ) -> RelayedMessage:
        """Relay one message (the user's "incoming" or the bot's "outgoing"); `id` is the
        bot's message id. The answer's `paused` is True while the bot must not answer."""
        if isinstance(created_at, datetime):
            created_at = created_at.isoformat()
        response = self._call(
            "relay_message",
            json_body=_body(
                conversation_id=conversation_id,
                user_id=user_id,
                channel=channel,
                id=id,
                direction=direction,
                text=text,
                payload=dict(payload) if payload is not None else None,
                created_at=created_at,
            ),
            idempotency_key=idempotency_key,
        )
        return RelayedMessage.from_json(response.json(), created=response.status_code == 201)

    def show_typing(self, *, conversation_id: str) -> None:
        """The user is typing: agents watching the conversation see "typing…" for a few
        seconds. Send it every 3 to 5 seconds while the user types; nothing is stored."""
        self._call("show_typing", json_body=_body(conversation_id=conversation_id))

    # Reading ----------------------------------------------------------------------------------

    def list_agents(self) -> list[Agent]:
        response = self._call("list_agents")
        return [_build(Agent, agent) for agent in response.json()["agents"]]

    def list_events(self, *, after: str | None = None, limit: int | None = None) -> EventPage:
        """Events oldest first, from the cursor `after` (None: the oldest kept)."""
        body = self._call("list_events", params={"after": after, "limit": limit}).json()
        return EventPage(
            events=[Event.from_json(event) for event in body["events"]],
            next_cursor=body["next_cursor"],
        )

    def iter_events(self, *, after: str | None = None, limit: int = 100) -> Iterator[EventPage]:
        """Pages of events from `after` until the feed is read to its end (each page's
        `next_cursor` is where to start next time)."""
        while True:
            page = self.list_events(after=after, limit=limit)
            yield page
            if len(page.events) < limit:
                return
            after = page.next_cursor

    def list_labels(self) -> list[Label]:
        response = self._call("list_labels")
        return [_build(Label, label) for label in response.json()["labels"]]

    def list_deliveries(
        self,
        *,
        status: DeliveryFilter | None = None,
        before: str | None = None,
        limit: int | None = None,
    ) -> DeliveryPage:
        """This bot's webhook deliveries, newest first; status="failing" for the unhealthy."""
        body = self._call(
            "list_deliveries", params={"status": status, "before": before, "limit": limit}
        ).json()
        return DeliveryPage(
            webhook_enabled=body["webhook_enabled"],
            deliveries=[Delivery.from_json(delivery) for delivery in body["deliveries"]],
            next_cursor=body["next_cursor"],
        )


# --- Webhooks ---------------------------------------------------------------------------------


class InvalidWebhook(Exception):
    """Not signed with this secret, signed too long ago (or ahead), or not an event: answer
    401 and do nothing with it."""


def verify_webhook(*, secret: str, body: bytes | str, headers: Mapping[str, str]) -> Event:
    """The event, once its Standard Webhooks signature checks out (the reference library:
    HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{raw body}" with the `whsec_` secret,
    timestamp within 5 minutes). Pass the raw body, not re-serialised JSON.

    Delivery is at least once: de-duplicate on the event id (the `webhook-id`)."""
    try:
        payload = Webhook(secret).verify(body, dict(headers))
        return Event.from_json(payload)
    except (WebhookVerificationError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidWebhook(str(exc) or "invalid signature") from exc
    except (ValueError, KeyError, TypeError) as exc:
        # A malformed signature header ("v1" without a comma) or a body that is not an event.
        raise InvalidWebhook(f"not a valid webhook: {exc}") from exc


def event_from_json(text: str | bytes) -> Event:
    """An event from the feed or a stored webhook body, without signature checks."""
    return Event.from_json(json.loads(text))
