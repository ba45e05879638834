"""Request and response shapes of the bot API (v1): a published contract (README "The bot
API"), so a field is added, never renamed or removed.

Inputs are validated here so that a 422 names the failing field; the response schemas only
document what handoffs.payloads already builds. Every field carries a description and an
example, and every model an example as a whole: the OpenAPI document shows them, and the
examples of request bodies are what Swagger's "Try it out" sends (a test posts each one).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import (
    AfterValidator,
    ConfigDict,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from handoffs.models import Rating

USER_VARIABLES_MAX_BYTES = 16 * 1024
HISTORY_MAX_ITEMS = 200
RATING_COMMENT_MAX = Rating.COMMENT_MAX_LENGTH
# Far enough for any real wait, near enough that the deadline stays a sane datetime.
TIMEOUT_MAX_SECONDS = 30 * 24 * 3600
# The most items one page of a list endpoint holds.
PAGE_MAX = 500

Id255 = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Channel = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Language = Annotated[str, StringConstraints(max_length=16)]
Direction = Literal["incoming", "outgoing"]
Priority = Literal["normal", "high"]
HandoffStatus = Literal["pending", "assigned", "resolved", "rejected", "expired"]
# Timestamps leave as the strings handoffs.payloads writes ("2026-03-01T12:00:00Z", UTC);
# the document says what they are.
DateTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


def _example(value: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [value]})


# --- Requests -------------------------------------------------------------------------------


class _In(Schema):
    # Bots often have numeric thread/user ids (Telegram, WhatsApp): accept them as strings.
    # Unknown fields are refused: a typo ("timeout" for "timeout_seconds") would otherwise be
    # dropped silently and the bot would never learn its handoffs do not expire.
    model_config = ConfigDict(coerce_numbers_to_str=True, extra="forbid")


def _aware(value: datetime) -> datetime:
    """A timestamp without an offset is taken as UTC (what most bot platforms send)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00: the database stores UTC
        raise ValueError("Date out of range.") from None


Timestamp = Annotated[datetime, AfterValidator(_aware)]

HISTORY_ITEM_EXAMPLE = {
    "id": "m-1",
    "direction": "incoming",
    "text": "Where is my parcel? It should have arrived yesterday.",
    "created_at": "2026-03-01T11:58:00Z",
}
PAYLOAD_EXAMPLE = {
    "type": "image",
    "url": "https://example.com/parcel.jpg",
    "name": "parcel.jpg",
    "content_type": "image/jpeg",
}


# The fields a message has wherever the bot sends one (a handoff's history, POST /messages).
def _direction() -> Any:
    return Field(
        description='"incoming": the user wrote it; "outgoing": the bot did.',
        examples=["incoming"],
    )


def _text(example: str) -> Any:
    return Field(
        "",
        description="The message text; may be empty when `payload` is given.",
        examples=[example],
    )


def _payload() -> Any:
    return Field(
        None,
        description="A non-text message as the bot's platform gave it (any JSON object); "
        'agents see a readable summary of it. `{"type": "image" | "file", "url", '
        '"name", "content_type", "size"}` shows inline: an image as a thumbnail '
        "opening the full picture, a file as a download link with its name and size (http and "
        "https URLs only).",
        examples=[PAYLOAD_EXAMPLE],
    )


def _created_at(example: str) -> Any:
    return Field(
        None,
        description="When it was sent, ISO-8601 (no offset: UTC). Default: now.",
        examples=[example],
    )


class HistoryItemIn(_In):
    model_config = _example(HISTORY_ITEM_EXAMPLE)

    id: Id255 = Field(
        description="The bot's id of this message; an id already stored is skipped.",
        examples=["m-1"],
    )
    direction: Direction = _direction()
    text: str | None = _text("Where is my parcel? It should have arrived yesterday.")
    payload: dict[str, Any] | None = _payload()
    created_at: Timestamp | None = _created_at("2026-03-01T11:58:00Z")


# No labels: a fresh server has none, and this body must work as shown ("Try it out").
HANDOFF_EXAMPLE = {
    "conversation_id": "th-42",
    "user_id": "u-7",
    "channel": "whatsapp",
    "language": "en",
    "user": {"fullName": "Ada Lovelace", "email": "ada@example.com", "plan": "gold"},
    "history": [
        HISTORY_ITEM_EXAMPLE,
        {
            "id": "m-2",
            "direction": "outgoing",
            "text": "Let me find someone who can help.",
            "created_at": "2026-03-01T11:58:05Z",
        },
    ],
    "timeout_seconds": 300,
    "priority": "normal",
}


class HandoffIn(_In):
    model_config = _example(HANDOFF_EXAMPLE)

    conversation_id: Id255 = Field(
        description="The bot's thread id: one conversation has at most one active handoff.",
        examples=["th-42"],
    )
    user_id: Id255 = Field(description="The bot's id of the end user.", examples=["u-7"])
    channel: Channel = Field(
        description='Where the user is: e.g. "web", "whatsapp", "telegram".',
        examples=["whatsapp"],
    )
    language: Language | None = Field(
        None,
        description="The user's language (system messages are sent in it). "
        "Default: the bot's default language.",
        examples=["en"],
    )
    user: dict[str, Any] | None = Field(
        None,
        description='User variables shown to agents ("fullName", "email", anything else): '
        "a JSON object of at most 16 KiB.",
        examples=[{"fullName": "Ada Lovelace", "email": "ada@example.com", "plan": "gold"}],
    )
    history: list[HistoryItemIn] | None = Field(
        None,
        max_length=HISTORY_MAX_ITEMS,
        description=f"Earlier messages of the conversation, at most {HISTORY_MAX_ITEMS}; "
        "items with neither text nor payload are skipped.",
    )
    timeout_seconds: int | None = Field(
        None,
        ge=0,
        description="Expire the handoff if no agent takes it in time. 0 or absent: never. "
        f"Values above {TIMEOUT_MAX_SECONDS} (30 days) are capped to it.",
        examples=[300],
    )
    labels: list[str] | None = Field(
        None,
        description="Labels to put on the handoff; each must be a name from "
        "GET /api/v1/labels (an unknown one is a 422 listing the known names).",
        examples=[["shipping"]],
    )
    priority: Priority = Field(
        "normal",
        description='The queue serves "high" before "normal", then the oldest first.',
        examples=["high"],
    )

    @field_validator("user")
    @classmethod
    def _user_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
            if size > USER_VARIABLES_MAX_BYTES:
                raise ValueError(
                    f"User variables take {size} bytes; the limit is "
                    f"{USER_VARIABLES_MAX_BYTES} bytes (16 KiB)."
                )
        return value


MESSAGE_EXAMPLE = {
    "conversation_id": "th-42",
    "user_id": "u-7",
    "channel": "whatsapp",
    "id": "m-3",
    "direction": "incoming",
    "text": "Is anyone there?",
    "created_at": "2026-03-01T12:01:00Z",
}


class MessageIn(_In):
    model_config = _example(MESSAGE_EXAMPLE)

    conversation_id: Id255 = Field(description="The bot's thread id.", examples=["th-42"])
    user_id: Id255 = Field(description="The bot's id of the end user.", examples=["u-7"])
    channel: Channel = Field(
        description='Where the user is: e.g. "web", "whatsapp", "telegram".',
        examples=["whatsapp"],
    )
    id: Id255 = Field(
        description="The bot's message id: re-sending it stores nothing twice.",
        examples=["m-3"],
    )
    direction: Direction = _direction()
    text: str | None = _text("Is anyone there?")
    payload: dict[str, Any] | None = _payload()
    created_at: Timestamp | None = _created_at("2026-03-01T12:01:00Z")


RATING_EXAMPLE = {"score": 5, "comment": "Quick and friendly, thank you!"}


class RatingIn(_In):
    model_config = _example(RATING_EXAMPLE)

    score: int = Field(
        ge=min(Rating.SCORES),
        le=max(Rating.SCORES),
        description="The user's satisfaction: 1 (very unhappy) to 5 (very happy).",
        examples=[5],
    )
    comment: str | None = Field(
        "",
        max_length=RATING_COMMENT_MAX,
        description=f"What the user said about it, at most {RATING_COMMENT_MAX} characters; "
        "optional.",
        examples=["Quick and friendly, thank you!"],
    )


TYPING_EXAMPLE = {"conversation_id": "th-42"}


class TypingIn(_In):
    model_config = _example(TYPING_EXAMPLE)

    conversation_id: Id255 = Field(
        description="The bot's thread id of a conversation it relayed or handed off.",
        examples=["th-42"],
    )


# --- Responses ------------------------------------------------------------------------------

AGENT_EXAMPLE = {
    "id": 3,
    "name": "Alice Martin",
    "avatar_url": "https://hitl.example.com/media/avatars/alice.png",
}


class AgentRef(Schema):
    model_config = _example(AGENT_EXAMPLE)

    id: int = Field(description="The agent's id.", examples=[3])
    name: str = Field(
        description="First and last name (else the username): what the user may be shown.",
        examples=["Alice Martin"],
    )
    avatar_url: str | None = Field(
        description="The agent's picture (absolute when HITLNEXT_PUBLIC_URL is set); null: none.",
        examples=["https://hitl.example.com/media/avatars/alice.png"],
    )


QUEUE_EXAMPLE = {"position": 2, "estimated_wait_seconds": 180, "agents_online": 3}


class QueueOut(Schema):
    model_config = _example(QUEUE_EXAMPLE)

    position: int = Field(
        description="1: the next handoff an agent gets. High priority first, then the oldest.",
        examples=[2],
    )
    estimated_wait_seconds: int | None = Field(
        description="How much longer it will probably wait for an agent (method: README "
        '"Routing"); 0: about now; null: not known (no agent online and no recent history).',
        examples=[180],
    )
    agents_online: int = Field(description="Agents online right now.", examples=[3])


HANDOFF_OUT_EXAMPLE = {
    "id": 17,
    "status": "assigned",
    "conversation_id": "th-42",
    "user_id": "u-7",
    "channel": "whatsapp",
    "language": "en",
    "priority": "normal",
    "labels": ["shipping"],
    "agent": AGENT_EXAMPLE,
    "created_at": "2026-03-01T12:00:00Z",
    "assigned_at": "2026-03-01T12:00:42Z",
    "resolved_at": None,
    "expires_at": None,
    "queue": None,
}


class HandoffOut(Schema):
    model_config = _example(HANDOFF_OUT_EXAMPLE)

    id: int = Field(description="The handoff's id.", examples=[17])
    status: HandoffStatus = Field(
        description="pending (waiting for an agent), assigned (an agent has it), and the "
        "final resolved, rejected (by the bot) and expired (nobody took it in time).",
        examples=["assigned"],
    )
    conversation_id: str = Field(description="The bot's thread id.", examples=["th-42"])
    user_id: str = Field(description="The bot's id of the end user.", examples=["u-7"])
    channel: str = Field(description="The channel the bot gave.", examples=["whatsapp"])
    language: str = Field(description="The user's language.", examples=["en"])
    priority: Priority = Field(description="The queue's priority.", examples=["normal"])
    labels: list[str] = Field(description="Label names, sorted.", examples=[["shipping"]])
    agent: AgentRef | None = Field(description="The assigned agent; null while nobody has it.")
    created_at: DateTime = Field(
        description="When the bot asked.", examples=["2026-03-01T12:00:00Z"]
    )
    assigned_at: DateTime | None = Field(
        description="When the current agent took it; null while pending.",
        examples=["2026-03-01T12:00:42Z"],
    )
    resolved_at: DateTime | None = Field(
        description="When an agent resolved it; null otherwise.",
        examples=["2026-03-01T12:09:30Z"],
    )
    expires_at: DateTime | None = Field(
        description="When it expires if still pending; null: never.",
        examples=["2026-03-01T12:05:00Z"],
    )
    queue: QueueOut | None = Field(
        description="While pending: its place in the queue and the wait estimate; null otherwise."
    )


RATING_OUT_EXAMPLE = {
    "score": 5,
    "comment": "Quick and friendly, thank you!",
    "source": "bot",
    "created_at": "2026-03-01T12:10:05Z",
}


class RatingOut(Schema):
    model_config = _example(RATING_OUT_EXAMPLE)

    score: int = Field(description="1 (very unhappy) to 5 (very happy).", examples=[5])
    comment: str = Field(
        description='What the user said; "" when nothing.',
        examples=["Quick and friendly, thank you!"],
    )
    source: Literal["webchat", "bot"] = Field(
        description='Who sent it: "bot" (POST /api/v1/handoffs/{id}/rating) or "webchat" '
        "(the visitor, in the built-in web chat).",
        examples=["bot"],
    )
    created_at: DateTime = Field(
        description="When it was given.", examples=["2026-03-01T12:10:05Z"]
    )


class HandoffRef(Schema):
    model_config = _example({"id": 17, "status": "assigned"})

    id: int = Field(description="The handoff's id.", examples=[17])
    status: HandoffStatus = Field(description="pending or assigned.", examples=["assigned"])


class MessageOut(Schema):
    model_config = _example(
        {"id": "msg_981", "handoff": {"id": 17, "status": "assigned"}, "paused": True}
    )

    id: str = Field(
        description='hitlnext\'s id of the stored message, "msg_<n>".', examples=["msg_981"]
    )
    handoff: HandoffRef | None = Field(
        description="The conversation's active handoff; null when it has none."
    )
    paused: bool = Field(
        description="True while a handoff is pending or assigned: the bot must not answer.",
        examples=[True],
    )


AGENT_OUT_EXAMPLE = {
    "id": 3,
    "username": "alice",
    "name": "Alice Martin",
    "online": True,
    "open_handoffs": 2,
    "capacity": 3,
}


class AgentOut(Schema):
    model_config = _example(AGENT_OUT_EXAMPLE)

    id: int = Field(description="The agent's id.", examples=[3])
    username: str = Field(description="The agent's login name.", examples=["alice"])
    name: str = Field(
        description="First and last name, else the username.", examples=["Alice Martin"]
    )
    online: bool = Field(description="Online now: able to take a handoff.", examples=[True])
    open_handoffs: int = Field(
        description="Handoffs assigned to the agent right now.", examples=[2]
    )
    capacity: int | None = Field(
        description="Open handoffs auto-assignment gives the agent at most; null: no limit.",
        examples=[3],
    )


class AgentList(Schema):
    model_config = _example({"agents": [AGENT_OUT_EXAMPLE]})

    agents: list[AgentOut] = Field(description="Every agent account (never superusers).")


class EventOut(Schema):
    """One event of the feed. The document describes each type (the `Event` schema); the
    feed hands out what was stored, so an event is never lost to a schema it predates."""

    id: str
    type: str
    created_at: str
    data: dict[str, Any]


class EventPage(Schema):
    # Documented as a list of `Event` (each type's data: api/openapi.py).
    events: list[EventOut] = Field(
        description="Oldest first; each one as the webhook delivered it."
    )
    next_cursor: str = Field(
        description="Pass it as `after` to get the next page (an empty page returns the "
        "same cursor).",
        examples=["1042"],
    )


class LabelOut(Schema):
    model_config = _example({"name": "shipping", "color": "#2563eb"})

    name: str = Field(description="What a bot sends in `labels`.", examples=["shipping"])
    color: str = Field(description="The colour agents see, #rrggbb.", examples=["#2563eb"])


class LabelList(Schema):
    model_config = _example(
        {
            "labels": [
                {"name": "billing", "color": "#6b7280"},
                {"name": "shipping", "color": "#2563eb"},
            ]
        }
    )

    labels: list[LabelOut] = Field(description="Every label, by name.")


DeliveryStatus = Literal["pending", "delivered", "failed"]


DELIVERY_EVENT_EXAMPLE = {
    "id": "evt_018e0f5a3c00a1b2c3d4e5f6a7b8c9d0e1f2",
    "type": "message.created",
    "created_at": "2026-03-01T12:00:43Z",
}


class DeliveryEventRef(Schema):
    model_config = _example(DELIVERY_EVENT_EXAMPLE)

    id: str = Field(
        description="The event id, sent as `webhook-id`.",
        examples=["evt_018e0f5a3c00a1b2c3d4e5f6a7b8c9d0e1f2"],
    )
    type: str = Field(description="The event type.", examples=["message.created"])
    created_at: DateTime = Field(
        description="When the event happened.", examples=["2026-03-01T12:00:43Z"]
    )


DELIVERY_EXAMPLE = {
    "id": 5120,
    "event": DELIVERY_EVENT_EXAMPLE,
    "conversation_id": "th-42",
    "status": "pending",
    "attempts": 3,
    "last_attempt_at": "2026-03-01T12:01:20Z",
    "last_status_code": 503,
    "last_error": "HTTP 503 Service Unavailable",
    "next_attempt_at": "2026-03-01T12:01:52Z",
    "sending": False,
    "delivered_at": None,
}


class DeliveryOut(Schema):
    model_config = _example(DELIVERY_EXAMPLE)

    id: int = Field(description="The delivery's id (also the `before` cursor).", examples=[5120])
    event: DeliveryEventRef = Field(description="The event being delivered.")
    conversation_id: str | None = Field(
        description="The bot's thread id of the event's conversation.", examples=["th-42"]
    )
    status: DeliveryStatus = Field(
        description="pending (not delivered yet: waiting, retrying, or held while the "
        "endpoint is disabled), delivered, failed (retries gave up).",
        examples=["pending"],
    )
    attempts: int = Field(description="HTTP attempts made so far.", examples=[3])
    last_attempt_at: DateTime | None = Field(
        description="When the last attempt started; null: none yet.",
        examples=["2026-03-01T12:01:20Z"],
    )
    last_status_code: int | None = Field(
        description="The endpoint's HTTP status at the last attempt; null: no answer "
        "(timeout, refused connection) or no attempt yet.",
        examples=[503],
    )
    last_error: str = Field(
        description='Why the last attempt failed; "" when it did not.',
        examples=["HTTP 503 Service Unavailable"],
    )
    next_attempt_at: DateTime | None = Field(
        description="When the next attempt is due (pending only; while the endpoint is "
        "disabled it waits for an admin to enable it again); null otherwise, and while an "
        "attempt is being made (`sending`).",
        examples=["2026-03-01T12:01:52Z"],
    )
    sending: bool = Field(
        description="An attempt is being made right now: its outcome is not known yet.",
        examples=[False],
    )
    delivered_at: DateTime | None = Field(
        description="When the endpoint accepted it; null until then.",
        examples=["2026-03-01T12:02:10Z"],
    )


class DeliveryPage(Schema):
    model_config = _example(
        {"webhook_enabled": True, "deliveries": [DELIVERY_EXAMPLE], "next_cursor": None}
    )

    webhook_enabled: bool = Field(
        description="False once the endpoint answered 410 Gone: deliveries wait (none is "
        "dropped) until an admin enables it again.",
        examples=[True],
    )
    deliveries: list[DeliveryOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass it as `before` for the next (older) page; null: no more.",
        examples=["5071"],
    )


class FieldError(Schema):
    field: str = Field(
        description='Dotted path of the field, e.g. "history.3.direction"; "" for none.',
        examples=["timeout_seconds"],
    )
    message: str = Field(
        description="What is wrong with it, in plain words.", examples=["Must be 0 or more."]
    )


class Error(Schema):
    model_config = _example(
        {
            "detail": "The request has invalid fields: timeout_seconds.",
            "errors": [{"field": "timeout_seconds", "message": "Must be 0 or more."}],
        }
    )

    detail: str = Field(
        description="One sentence for people.",
        examples=["The request has invalid fields: timeout_seconds."],
    )
    errors: list[FieldError] = Field(description="One item per failing field; may be empty.")
