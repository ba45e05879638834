"""JSON shapes of the bot API and of webhook events: a contract bots rely on, so a field is
added, never renamed or removed."""

from __future__ import annotations

from agents.models import display_name
from conversations.attachments import message_files, signed_path
from conversations.models import Message
from handoffs.models import Handoff, Rating
from handoffs.queue_place import place_of
from webhooks.events import absolute_url, isoformat


def agent_json(user) -> dict | None:
    if user is None:
        return None
    profile = getattr(user, "agent_profile", None)
    avatar = profile.avatar.url if profile is not None and profile.avatar else None
    return {
        "id": user.pk,
        "name": display_name(user),
        "avatar_url": absolute_url(avatar) if avatar else None,
    }


def handoff_json(handoff: Handoff) -> dict:
    conversation = handoff.conversation
    return {
        "id": handoff.pk,
        "status": handoff.status,
        "conversation_id": conversation.external_id,
        "user_id": conversation.end_user.external_id,
        "channel": conversation.channel,
        "language": handoff.language,
        "priority": handoff.priority,
        "labels": sorted(label.name for label in handoff.labels.all()),
        "agent": agent_json(handoff.agent),
        "created_at": isoformat(handoff.created_at),
        "assigned_at": isoformat(handoff.assigned_at),
        "resolved_at": isoformat(handoff.resolved_at),
        "expires_at": isoformat(handoff.expires_at),
        # Its place in the queue while pending (routing computes it); null otherwise.
        "queue": place.as_json() if (place := place_of(handoff)) is not None else None,
    }


def message_json(message: Message) -> dict:
    conversation = message.conversation
    return {
        "id": f"msg_{message.pk}",
        "conversation_id": conversation.external_id,
        "user_id": conversation.end_user.external_id,
        "channel": conversation.channel,
        "author": "agent" if message.direction == Message.Direction.AGENT else "system",
        "agent": agent_json(message.author),
        "text": message.text,
        "attachments": attachments_json(message),
        "created_at": isoformat(message.created_at),
    }


def attachments_json(message: Message) -> list[dict]:
    """The message's files, each with a signed link that works without a login until
    HITLNEXT_ATTACHMENT_URL_TTL has passed (absolute with HITLNEXT_PUBLIC_URL)."""
    return [
        {
            "url": absolute_url(signed_path(item["id"])),
            "name": item.get("name", ""),
            "content_type": item.get("content_type", "application/octet-stream"),
            "size": item.get("size", 0),
        }
        for item in message_files(message.payload)
    ]


def rating_json(rating: Rating) -> dict:
    return {
        "score": rating.score,
        "comment": rating.comment,
        "source": rating.source,
        "created_at": isoformat(rating.created_at),
    }
