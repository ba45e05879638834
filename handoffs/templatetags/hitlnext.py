"""Small presentation helpers shared by the agent pages and the live pushes."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.conf import settings
from django.utils import timezone, translation
from django.utils.timesince import timesince
from django.utils.translation import gettext

from agents.models import display_name
from agents.roles import is_supervisor as _is_supervisor
from conversations.attachments import Media, describe_limits
from conversations.attachments import message_media as _message_media
from conversations.models import Message
from conversations.services import describe_payload
from handoffs.naming import display_user_name, is_anonymous

register = template.Library()

MESSAGE_KINDS: dict[str, str] = {
    Message.Direction.INCOMING: "user",
    Message.Direction.OUTGOING: "bot",
    Message.Direction.AGENT: "agent",
    Message.Direction.SYSTEM: "system",
}


@register.filter
def is_supervisor(user) -> bool:
    """Supervisors may transfer any assigned handoff (agents.roles)."""
    return _is_supervisor(user)


@register.filter
def epoch_ms(value: datetime | None) -> int:
    """Timestamps for the page's scripts (relative time, urgency, unread): plain numbers."""
    return int(value.timestamp() * 1000) if value else 0


@register.filter
def user_name(end_user) -> str:
    return display_user_name(end_user)


@register.filter
def anonymous(end_user) -> bool:
    """Shown as "Anonymous User": pushed fragments mark it for the page's language."""
    return is_anonymous(end_user)


@register.filter
def agent_name(user) -> str:
    return display_name(user) if user is not None else ""


@register.filter
def initials(user) -> str:
    parts = [p for p in (user.first_name, user.last_name) if p]
    letters = "".join(p[0] for p in parts) if parts else user.username[:2]
    return letters.upper()


@register.filter
def hue(value: int) -> int:
    """One of eight avatar colours, stable per id (classes avatar-hue-0..7 in app.css)."""
    return int(value or 0) % 8


@register.filter
def message_kind(message: Message) -> str:
    return MESSAGE_KINDS.get(message.direction, "system")


@register.filter
def msgid(text) -> str:
    """The English text of a lazily translated string (a choice's label): what a pushed
    fragment marks with data-msgid for each page to translate (js/personalize.js)."""
    with translation.override(None):
        return str(text)


@register.filter
def payload_summary(message: Message) -> str:
    return describe_payload(message.payload)


@register.filter
def message_media(message: Message) -> list[Media]:
    """The message's files and pictures, linked for an agent's session (the serve view)."""
    return _message_media(message.payload)


@register.filter
def message_media_signed(message: Message) -> list[Media]:
    """The same, with signed links: for the web chat visitor, who has no session."""
    return _message_media(message.payload, signed=True)


@register.simple_tag
def attachment_accept() -> str:
    """The file picker's hint (the server checks anyway): HITLNEXT_ATTACHMENT_TYPES."""
    return ",".join(settings.HITLNEXT_ATTACHMENT_TYPES)


@register.simple_tag
def attachment_limits() -> str:
    return describe_limits()


@register.filter
def ago(value: datetime | None) -> str:
    """The server's first rendering of a relative time; js/times.js keeps it current."""
    if value is None:
        return ""
    text = timesince(value, depth=1)
    if text.startswith("0\xa0"):  # "0 minutes", in any language
        return gettext("just now")
    return gettext("%(time)s ago") % {"time": text}


@register.filter
def is_urgent(handoff) -> bool:
    """Pending for longer than HITLNEXT_HANDOFF_ALERT (inbox.js re-checks as time passes)."""
    return (
        handoff.status == "pending"
        and timezone.now() - handoff.created_at > settings.HITLNEXT_HANDOFF_ALERT
    )
