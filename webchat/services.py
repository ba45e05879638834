"""The built-in web chat channel: a bot like any other, whose user is an anonymous visitor.

The visitor's identity is a random id in a signed cookie (never chosen by the client;
webchat/visitors.py). Its conversation is "web-<visitor id>" of the "Web chat" bot, created on
the first message and stored and handed off through the same services as API-driven
conversations; what the bot would receive as webhooks goes straight to the visitor's socket
instead (webchat/live.py). Abuse limits are checked before these run (webchat/limits.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypedDict

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from conversations.attachments import StoredFile, discard_files
from conversations.models import Bot, Conversation, Message
from conversations.services import ensure_conversation
from conversations.text import UNSTORABLE, VISITOR_MESSAGE_MAX
from handoffs.errors import HandoffError
from handoffs.messaging import relay_message
from handoffs.models import Handoff, Rating
from handoffs.ratings import AlreadyRated, rate_handoff
from handoffs.services import start_handoff
from hitlnext_project.shared.ids import parse_id
from webchat.visitors import conversation_external_id

WEBCHAT_BOT_NAME = "Web chat"
CHANNEL = "web"
MAX_TEXT_LENGTH = VISITOR_MESSAGE_MAX  # the one limit per kind, in conversations/text.py
# A visitor may send RATE_LIMIT messages per RATE_WINDOW. Counted in the database (the
# visitor's stored messages), so it holds across any number of server processes.
RATE_LIMIT = 10
RATE_WINDOW = timedelta(seconds=10)
TOO_QUICKLY = gettext_lazy("You are sending messages too quickly. Please wait a moment.")
HANDOFFS_BUSY = gettext_lazy(
    "We cannot take more requests for a person right now. Please try again later."
)
CATCH_UP_COUNT = 50
BOT_REPLY = gettext_lazy('I\'m the hitlnext demo bot. Press "Talk to a person" to reach an agent.')
COMMENT_MAX_LENGTH = Rating.COMMENT_MAX_LENGTH


class VisitorError(Exception):
    """Input the visitor must correct; the message is shown to them as is."""


def get_webchat_bot() -> Bot:
    """The built-in "Web chat" bot, created on first use.

    Its API key is discarded (nothing calls the API as this bot) and it has no webhook URL:
    record_event never queues deliveries for it.
    """
    bot = Bot.objects.filter(is_webchat=True).first()
    if bot is not None:
        return bot
    bot = Bot(name=WEBCHAT_BOT_NAME, is_webchat=True)
    bot.set_new_api_key()
    bot.set_new_webhook_secret()
    try:
        with transaction.atomic():
            bot.save()
        return bot
    except IntegrityError:
        # Another process created it first, or an ordinary bot already has the name.
        bot = Bot.objects.filter(is_webchat=True).first()
        if bot is None:
            raise RuntimeError(
                f'A bot named "{WEBCHAT_BOT_NAME}" exists but is not the web chat channel: '
                "rename it in the admin."
            ) from None
        return bot


def find_conversation(visitor_id: str) -> Conversation | None:
    return (
        Conversation.objects.filter(
            bot__is_webchat=True, external_id=conversation_external_id(visitor_id)
        )
        .select_related("end_user")
        .first()
    )


def latest_handoff(conversation: Conversation | None) -> Handoff | None:
    """The visitor's current (or last) handoff: at most one is active, and it is the newest."""
    if conversation is None:
        return None
    return conversation.handoffs.select_related("agent__agent_profile").order_by("-id").first()


def recent_messages(conversation: Conversation | None) -> list[Message]:
    if conversation is None:
        return []
    rows = list(
        conversation.messages.select_related("author__agent_profile").order_by("-id")[
            :CATCH_UP_COUNT
        ]
    )
    rows.reverse()
    return rows


def clean_text(raw: object) -> str:
    if not isinstance(raw, str):
        raise VisitorError(gettext("Please type a message."))
    text = raw.strip()
    if not text:
        raise VisitorError(gettext("Please type a message."))
    if len(text) > MAX_TEXT_LENGTH:
        raise VisitorError(
            gettext("Messages are limited to %(limit)s characters.") % {"limit": MAX_TEXT_LENGTH}
        )
    if UNSTORABLE.search(text):
        raise VisitorError(gettext("That message contains characters that cannot be sent."))
    return text


class _ConversationIds(TypedDict):
    bot: Bot
    conversation_id: str
    user_id: str
    channel: str


@dataclass(frozen=True)
class VisitorPost:
    message: Message
    reply: Message | None


def post_visitor_message(
    *, visitor_id: str, text: object, files: Sequence[StoredFile] = ()
) -> VisitorPost:
    """Store the visitor's message (the socket's raw value, checked by clean_text; or files
    already in storage, which are removed again if the message is refused); the demo bot
    answers it unless a handoff is active."""
    try:
        cleaned = "" if files and not text else clean_text(text)
        return _post_visitor_message(visitor_id=visitor_id, text=cleaned, files=files)
    except BaseException:
        discard_files(files)
        raise


def _post_visitor_message(
    *, visitor_id: str, text: str, files: Sequence[StoredFile]
) -> VisitorPost:
    cleaned = text
    bot = get_webchat_bot()
    ids: _ConversationIds = {
        "bot": bot,
        "conversation_id": conversation_external_id(visitor_id),
        "user_id": visitor_id,
        "channel": CHANNEL,
    }
    with transaction.atomic():
        # The conversation row lock makes concurrent sends take turns, so the count below
        # cannot be raced past from another socket or process.
        conversation = ensure_conversation(**ids)
        since = timezone.now() - RATE_WINDOW
        recent = conversation.messages.filter(
            direction=Message.Direction.INCOMING, created_at__gte=since
        ).count()
        if recent >= RATE_LIMIT:
            raise VisitorError(TOO_QUICKLY)
        result = relay_message(
            **ids,
            external_id=f"visitor-{secrets.token_hex(8)}",
            direction=Message.Direction.INCOMING,
            text=cleaned,
            files=files,
        )
    reply = None
    if result.handoff is None:
        reply = relay_message(
            **ids,
            external_id=f"bot-{secrets.token_hex(8)}",
            direction=Message.Direction.OUTGOING,
            text=str(BOT_REPLY),  # in the visitor's language
        ).message
    return VisitorPost(message=result.message, reply=reply)


def request_person(*, visitor_id: str, language: str | None = None) -> tuple[Handoff, bool]:
    """ "Talk to a person": the same handoff service the bot API uses."""
    return start_handoff(
        bot=get_webchat_bot(),
        conversation_id=conversation_external_id(visitor_id),
        user_id=visitor_id,
        channel=CHANNEL,
        language=language,
    )


def clean_rating(score: object, comment: object) -> tuple[int, str]:
    """The rating form's raw values (strings from the socket), checked."""
    if isinstance(score, str) and score.isascii() and score.isdigit():
        score = int(score)
    if not isinstance(score, int) or isinstance(score, bool) or score not in Rating.SCORES:
        raise VisitorError(gettext("Please choose a rating from 1 to 5."))
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise VisitorError(gettext("Sorry, that comment could not be read."))
    comment = comment.strip()
    if len(comment) > COMMENT_MAX_LENGTH:
        raise VisitorError(
            gettext("Comments are limited to %(limit)s characters.") % {"limit": COMMENT_MAX_LENGTH}
        )
    if UNSTORABLE.search(comment):
        raise VisitorError(gettext("That comment contains characters that cannot be sent."))
    return score, comment


def rate_conversation(
    *, visitor_id: str, handoff_id: object, score: object, comment: object
) -> Rating:
    """The visitor rates a resolved handoff of their own conversation (the same service the
    bot API uses); any other handoff is refused as if it did not exist."""
    cleaned_score, cleaned_comment = clean_rating(score, comment)
    pk = parse_id(handoff_id)
    handoff = (
        Handoff.objects.filter(
            pk=pk,
            bot__is_webchat=True,
            conversation__external_id=conversation_external_id(visitor_id),
        ).first()
        if pk is not None
        else None
    )
    if handoff is None:
        raise VisitorError(gettext("This conversation cannot be rated."))
    try:
        return rate_handoff(
            handoff=handoff,
            score=cleaned_score,
            comment=cleaned_comment,
            source="webchat",
        )
    except AlreadyRated:
        raise VisitorError(
            gettext("You have already rated this conversation. Thank you!")
        ) from None
    except HandoffError:
        raise VisitorError(
            gettext("You can rate the conversation once the agent has ended it.")
        ) from None
