"""The events' contract: what each event type's `data` holds, for the OpenAPI document's
`webhooks` section (OpenAPI 3.1) and the feed's `Event` schema.

Events are built by handoffs.payloads and written by webhooks.events; these models only
describe them (a test checks real events against the published document). Adding an event
type means adding its data model, its envelope and an entry in EVENT_TYPES.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict, TypeAdapter

from api.schemas import (
    AGENT_EXAMPLE,
    HANDOFF_OUT_EXAMPLE,
    QUEUE_EXAMPLE,
    RATING_OUT_EXAMPLE,
    AgentRef,
    DateTime,
    HandoffOut,
    RatingOut,
)

# --- What `data` holds ------------------------------------------------------------------------


class HandoffData(Schema):
    handoff: HandoffOut = Field(
        description="The handoff after the change, as GET /api/v1/handoffs/{id} returns it."
    )


class HandoffAssignedData(HandoffData):
    assigned_by: Literal["auto", "agent", "transfer"] = Field(
        description='Who decided: "agent" (Assign to me), "auto" (auto-assignment), '
        '"transfer" (another agent handed it over).',
        examples=["agent"],
    )


class HandoffResolvedData(HandoffData):
    exit_type: Literal["handoffResolved"] = Field(
        description="As Botpress's HITL-next names this ending.", examples=["handoffResolved"]
    )


class HandoffExpiredData(HandoffData):
    exit_type: Literal["timedOutWaitingAgent"] = Field(
        description="As Botpress's HITL-next names this ending.",
        examples=["timedOutWaitingAgent"],
    )


class HandoffRequeuedData(HandoffData):
    reason: Literal["agentDidNotReply", "transfer"] = Field(
        description='"agentDidNotReply": the agent did not answer within '
        'HITLNEXT_REASSIGN_AFTER; "transfer": the agent put it back in the queue.',
        examples=["agentDidNotReply"],
    )
    from_agent: AgentRef | None = Field(description="The agent who had it.")


class HandoffTransferredData(HandoffData):
    from_agent: AgentRef | None = Field(description="The agent who had it.")
    by_agent: AgentRef | None = Field(
        description="Who transferred it: that agent, or a supervisor."
    )


class HandoffRatedData(HandoffData):
    rating: RatingOut = Field(description="The user's rating of the (resolved) handoff.")


ATTACHMENT_EXAMPLE: dict[str, Any] = {
    "url": "https://hitl.example.com/attachments/31/?s=31%3A1vPq7a%3AhR3c0v1sJk2",
    "name": "invoice.pdf",
    "content_type": "application/pdf",
    "size": 48213,
}


class AttachmentOut(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [ATTACHMENT_EXAMPLE]})

    url: str = Field(
        description="Where to download the file: a signed link that needs no key and stops "
        "working HITLNEXT_ATTACHMENT_URL_TTL (default 24 h) after the event was made, so fetch "
        "it when the event arrives. Absolute when HITLNEXT_PUBLIC_URL is set.",
        examples=[ATTACHMENT_EXAMPLE["url"]],
    )
    name: str = Field(description="The file's name as sent.", examples=["invoice.pdf"])
    content_type: str = Field(
        description="Its type, decided from its name by hitlnext.", examples=["application/pdf"]
    )
    size: int = Field(description="Its size in bytes.", examples=[48213])


OUTBOUND_MESSAGE_EXAMPLE: dict[str, Any] = {
    "id": "msg_982",
    "conversation_id": "th-42",
    "user_id": "u-7",
    "channel": "whatsapp",
    "author": "agent",
    "agent": AGENT_EXAMPLE,
    "text": "Hello Ada, I am looking at your parcel now.",
    "attachments": [ATTACHMENT_EXAMPLE],
    "created_at": "2026-03-01T12:01:05Z",
}


class OutboundMessage(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [OUTBOUND_MESSAGE_EXAMPLE]})

    id: str = Field(description='hitlnext\'s id of the message, "msg_<n>".', examples=["msg_982"])
    conversation_id: str = Field(description="The bot's thread id.", examples=["th-42"])
    user_id: str = Field(description="The bot's id of the end user.", examples=["u-7"])
    channel: str = Field(description="The conversation's channel.", examples=["whatsapp"])
    author: Literal["agent", "system"] = Field(
        description='"agent": an agent wrote it; "system": a notice such as the transfer and '
        "assign messages, in the user's language with the agent's name filled in.",
        examples=["agent"],
    )
    agent: AgentRef | None = Field(description="The agent who wrote it; null for system.")
    text: str = Field(
        description="What to show the user; may be empty when the message is files only.",
        examples=["Hello Ada, I am looking at your parcel now."],
    )
    attachments: list[AttachmentOut] = Field(
        description="Files the agent attached (none for system messages): deliver each to "
        "the user, e.g. as the channel's image or document message.",
        examples=[[ATTACHMENT_EXAMPLE]],
    )
    created_at: DateTime = Field(
        description="When it was written.", examples=["2026-03-01T12:01:05Z"]
    )


class MessageCreatedData(Schema):
    message: OutboundMessage = Field(description="The message to deliver to the user.")


# --- The envelope of each type ------------------------------------------------------------------


class _Envelope(Schema):
    id: str = Field(
        description="Unique event id; the `webhook-id` header, the same on every retry: "
        "de-duplicate on it.",
        examples=["evt_018e0f5a3c00a1b2c3d4e5f6a7b8c9d0e1f2"],
    )
    type: str
    created_at: DateTime = Field(description="When it happened.", examples=["2026-03-01T12:00:42Z"])


def _type(name: str) -> Any:
    return Field(description="The event type.", examples=[name])


def _data() -> Any:
    return Field(description="What happened; its schema depends on the type.")


class HandoffCreatedEvent(_Envelope):
    type: Literal["handoff.created"] = _type("handoff.created")
    data: HandoffData = _data()


class HandoffAssignedEvent(_Envelope):
    type: Literal["handoff.assigned"] = _type("handoff.assigned")
    data: HandoffAssignedData = _data()


class HandoffResolvedEvent(_Envelope):
    type: Literal["handoff.resolved"] = _type("handoff.resolved")
    data: HandoffResolvedData = _data()


class HandoffExpiredEvent(_Envelope):
    type: Literal["handoff.expired"] = _type("handoff.expired")
    data: HandoffExpiredData = _data()


class HandoffRejectedEvent(_Envelope):
    type: Literal["handoff.rejected"] = _type("handoff.rejected")
    data: HandoffData = _data()


class HandoffUpdatedEvent(_Envelope):
    type: Literal["handoff.updated"] = _type("handoff.updated")
    data: HandoffData = _data()


class HandoffTransferredEvent(_Envelope):
    type: Literal["handoff.transferred"] = _type("handoff.transferred")
    data: HandoffTransferredData = _data()


class HandoffRequeuedEvent(_Envelope):
    type: Literal["handoff.requeued"] = _type("handoff.requeued")
    data: HandoffRequeuedData = _data()


class HandoffRatedEvent(_Envelope):
    type: Literal["handoff.rated"] = _type("handoff.rated")
    data: HandoffRatedData = _data()


class MessageCreatedEvent(_Envelope):
    type: Literal["message.created"] = _type("message.created")
    data: MessageCreatedData = _data()


AnyEvent = Annotated[
    HandoffCreatedEvent
    | HandoffAssignedEvent
    | HandoffResolvedEvent
    | HandoffExpiredEvent
    | HandoffRejectedEvent
    | HandoffUpdatedEvent
    | HandoffTransferredEvent
    | HandoffRequeuedEvent
    | HandoffRatedEvent
    | MessageCreatedEvent,
    Field(discriminator="type"),
]
any_event = TypeAdapter(AnyEvent)


# --- The list, with what the README's table and the document say about each type ---------------


@dataclass(frozen=True)
class EventType:
    name: str
    envelope: type[_Envelope]
    when: str
    example_data: dict[str, Any]


def _handoff(**changes: Any) -> dict[str, Any]:
    return HANDOFF_OUT_EXAMPLE | changes


_PENDING = _handoff(status="pending", agent=None, assigned_at=None, labels=[], queue=QUEUE_EXAMPLE)
_CLOSED = {"queue": None}

EVENT_TYPES = (
    EventType(
        "handoff.created",
        HandoffCreatedEvent,
        "A handoff was created (POST /api/v1/handoffs, or the web chat).",
        {"handoff": _PENDING},
    ),
    EventType(
        "handoff.assigned",
        HandoffAssignedEvent,
        "An agent has the handoff: they picked it, auto-assignment gave it, or another "
        "agent transferred it. The assign message follows as message.created.",
        {"handoff": _handoff(), "assigned_by": "agent"},
    ),
    EventType(
        "handoff.resolved",
        HandoffResolvedEvent,
        "The agent resolved it: the bot takes the conversation back.",
        {
            "handoff": _handoff(status="resolved", resolved_at="2026-03-01T12:09:30Z"),
            "exit_type": "handoffResolved",
        },
    ),
    EventType(
        "handoff.expired",
        HandoffExpiredEvent,
        "Nobody took it within timeout_seconds: the bot takes the conversation back.",
        {
            "handoff": _PENDING
            | _CLOSED
            | {"status": "expired", "expires_at": "2026-03-01T12:05:00Z"},
            "exit_type": "timedOutWaitingAgent",
        },
    ),
    EventType(
        "handoff.rejected",
        HandoffRejectedEvent,
        "The bot cancelled it (POST /api/v1/handoffs/{id}/reject).",
        {"handoff": _PENDING | _CLOSED | {"status": "rejected"}},
    ),
    EventType(
        "handoff.updated",
        HandoffUpdatedEvent,
        "Its labels changed (an agent, or an admin renaming or deleting a label).",
        {"handoff": _handoff(labels=["shipping", "vip"])},
    ),
    EventType(
        "handoff.transferred",
        HandoffTransferredEvent,
        "An agent (or a supervisor) handed it to another agent; handoff.assigned "
        '(assigned_by "transfer") and the assign message with the new name follow.',
        {
            "handoff": _handoff(agent={"id": 4, "name": "Bob Stone", "avatar_url": None}),
            "from_agent": AGENT_EXAMPLE,
            "by_agent": AGENT_EXAMPLE,
        },
    ),
    EventType(
        "handoff.requeued",
        HandoffRequeuedEvent,
        "It went back to the queue without an agent (the agent did not reply in time, or "
        "put it back).",
        {"handoff": _PENDING, "reason": "agentDidNotReply", "from_agent": AGENT_EXAMPLE},
    ),
    EventType(
        "handoff.rated",
        HandoffRatedEvent,
        "The user rated a resolved handoff (CSAT): in the web chat, or the bot sent it "
        "(POST /api/v1/handoffs/{id}/rating). Once per handoff.",
        {
            "handoff": _handoff(status="resolved", resolved_at="2026-03-01T12:09:30Z"),
            "rating": RATING_OUT_EXAMPLE,
        },
    ),
    EventType(
        "message.created",
        MessageCreatedEvent,
        "A message the bot must deliver to the user: an agent's, or a system notice (the "
        "transfer message on creation, the assign message on assignment).",
        {"message": OUTBOUND_MESSAGE_EXAMPLE},
    ),
)
EVENT_TYPE_NAMES = tuple(event_type.name for event_type in EVENT_TYPES)


def example_event(event_type: EventType) -> dict[str, Any]:
    return {
        "id": "evt_018e0f5a3c00a1b2c3d4e5f6a7b8c9d0e1f2",
        "type": event_type.name,
        "created_at": "2026-03-01T12:00:42Z",
        "data": event_type.example_data,
    }
