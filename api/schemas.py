"""Request and response shapes of the bot API (v1): a published contract (README "The bot
API"), so a field is added, never renamed or removed.

Inputs are validated here so that a 422 names the failing field; the response schemas only
document what handoffs.payloads already builds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import AfterValidator, ConfigDict, StringConstraints, field_validator

USER_VARIABLES_MAX_BYTES = 16 * 1024
HISTORY_MAX_ITEMS = 200
# Far enough for any real wait, near enough that the deadline stays a sane datetime.
TIMEOUT_MAX_SECONDS = 30 * 24 * 3600

Id255 = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Channel = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Language = Annotated[str, StringConstraints(max_length=16)]
Direction = Literal["incoming", "outgoing"]
Priority = Literal["normal", "high"]


class _In(Schema):
    # Bots often have numeric thread/user ids (Telegram, WhatsApp): accept them as strings.
    # Unknown fields are ignored, so a bot written against a later minor version still works.
    model_config = ConfigDict(coerce_numbers_to_str=True)


def _aware(value: datetime) -> datetime:
    """A timestamp without an offset is taken as UTC (what most bot platforms send)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00: the database stores UTC
        raise ValueError("Date out of range.") from None


Timestamp = Annotated[datetime, AfterValidator(_aware)]


class HistoryItemIn(_In):
    id: Id255 = Field(description="The bot's id of this message; a re-sent id is skipped.")
    direction: Direction
    text: str | None = ""
    payload: dict[str, Any] | None = Field(None, description="A non-text message (any JSON).")
    created_at: Timestamp | None = Field(None, description="ISO-8601; default: now.")


class HandoffIn(_In):
    conversation_id: Id255 = Field(description="The bot's thread id.")
    user_id: Id255
    channel: Channel = Field(description='e.g. "web", "whatsapp", "telegram".')
    language: Language | None = Field(None, description="Default: the bot's default language.")
    user: dict[str, Any] | None = Field(
        None, description='User variables ("fullName", ...): a JSON object of at most 16 KiB.'
    )
    history: list[HistoryItemIn] | None = Field(
        None, max_length=HISTORY_MAX_ITEMS, description="Earlier messages, at most 200."
    )
    timeout_seconds: int | None = Field(
        None,
        ge=0,
        description="Expire the handoff if no agent takes it in time. 0 or absent: never. "
        f"Values above {TIMEOUT_MAX_SECONDS} (30 days) are capped to it.",
    )
    labels: list[str] | None = Field(None, description="Names of labels known to the server.")
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


class MessageIn(_In):
    conversation_id: Id255
    user_id: Id255
    channel: Channel
    id: Id255 = Field(description="The bot's message id: re-sending it stores nothing twice.")
    direction: Direction
    text: str | None = Field("", description="Optional when a payload is given.")
    payload: dict[str, Any] | None = Field(None, description="A non-text message (any JSON).")
    created_at: Timestamp | None = Field(None, description="ISO-8601; default: now.")


# --- Responses ------------------------------------------------------------------------------


class AgentRef(Schema):
    id: int
    name: str
    avatar_url: str | None


class HandoffOut(Schema):
    id: int
    status: Literal["pending", "assigned", "resolved", "rejected", "expired"]
    conversation_id: str
    user_id: str
    channel: str
    language: str
    priority: Priority
    labels: list[str]
    agent: AgentRef | None
    created_at: str
    assigned_at: str | None
    resolved_at: str | None
    expires_at: str | None


class HandoffRef(Schema):
    id: int
    status: str


class MessageOut(Schema):
    id: str = Field(description='"msg_<id>"')
    handoff: HandoffRef | None = Field(description="The conversation's active handoff.")
    paused: bool = Field(
        description="True while a handoff is pending or assigned: the bot must not answer."
    )


class AgentOut(Schema):
    id: int
    username: str
    name: str
    online: bool
    open_handoffs: int = Field(description="Handoffs assigned to the agent right now.")
    capacity: int | None = Field(
        description="Open handoffs auto-assignment gives the agent at most; null: no limit."
    )


class AgentList(Schema):
    agents: list[AgentOut]


class EventOut(Schema):
    id: str
    type: str
    created_at: str
    data: dict[str, Any]


class EventPage(Schema):
    events: list[EventOut]
    next_cursor: str = Field(description="Pass it as `after` to get the next page.")


class FieldError(Schema):
    field: str = Field(description='Dotted path, e.g. "history.3.direction"; "" for none.')
    message: str


class Error(Schema):
    detail: str
    errors: list[FieldError]
