"""POST /api/v1/typing: the bot shows its user typing to the agents watching the conversation
(handoffs/typing.py). Throttled, never stored: past the bot's key and the conversation's
lookup, the signal is only a push, dropped when the same conversation had one less than
TYPING_EVERY seconds ago (in the cache, so across every server process).

Registered on the API by api/apps.py: the one endpoint kept apart from api/endpoints.py.
"""

from __future__ import annotations

import logging
import math

from django.core.cache import cache
from django.http import Http404
from ninja import Status

from api.endpoints import _errors, api
from api.http import BotRequest
from api.schemas import TypingIn
from conversations.models import Conversation
from handoffs import live
from handoffs.typing import TYPING_EVERY

logger = logging.getLogger(__name__)


def _first_in_window(bot_id: int, conversation_id: int) -> bool:
    """Whether this is the conversation's first signal of the window (the cache's add() is
    atomic in Redis and LocMem: of two racing signals, one wins). An unreachable cache lets it
    through, as the rate limiter does."""
    key = f"typing:{bot_id}:{conversation_id}"
    try:
        return bool(cache.add(key, 1, timeout=math.ceil(TYPING_EVERY)))
    except Exception:
        logger.warning("typing throttle cache unavailable; letting the signal through")
        return True


@api.post(
    "/typing",
    response={202: None, **_errors(400, 401, 404, 413, 422, 429)},
    summary="Show the user typing",
    operation_id="show_typing",
    description='The user is typing: agents watching the conversation see "typing…" for a '
    "few seconds. Send it every 3 to 5 seconds while the user types; signals closer together "
    "are dropped. 202 with no body (also when dropped); nothing is stored.",
)
def show_typing(request: BotRequest, payload: TypingIn) -> Status:
    conversation_pk = (
        Conversation.objects.filter(bot=request.auth, external_id=payload.conversation_id)
        .values_list("pk", flat=True)
        .first()
    )
    if conversation_pk is None:
        raise Http404
    if _first_in_window(request.auth.pk, conversation_pk):
        live.user_typing(conversation_pk)
    return Status(202, None)
