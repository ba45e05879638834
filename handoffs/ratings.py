"""CSAT: the user's rating of a resolved handoff (1 to 5 and an optional comment), once per
handoff, whoever gives it: the web chat visitor (webchat.services) or the bot
(POST /api/v1/handoffs/{id}/rating). Also what the conversation page and the reports read.
"""

from __future__ import annotations

from functools import partial
from typing import Literal, TypedDict

from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, Q, QuerySet

from handoffs import signals
from handoffs.errors import HandoffError, IllegalTransition
from handoffs.models import Handoff, Rating
from handoffs.payloads import rating_json
from handoffs.steps import load_handoff, lock_conversation, record_handoff_event
from hitlnext_project.shared.push import announce

Source = Literal["webchat", "bot"]


class AlreadyRated(HandoffError):
    def __init__(self, handoff_id: int) -> None:
        self.handoff_id = handoff_id
        super().__init__(f"Handoff #{handoff_id} was already rated: a handoff is rated once.")


def rate_handoff(*, handoff: Handoff, score: int, comment: str = "", source: Source) -> Rating:
    """Store the rating and record handoff.rated (data: the handoff and `rating`) with it.

    Refused with a HandoffError (the API's 409) unless the handoff is resolved, or when it
    was rated already. Entry points check `score` and `comment` first and word their own
    errors; a value they let through that is still wrong is a ValueError here.
    """
    comment = comment.strip()
    if not isinstance(score, int) or isinstance(score, bool) or score not in Rating.SCORES:
        raise ValueError("A score is a whole number from 1 to 5.")
    if len(comment) > Rating.COMMENT_MAX_LENGTH:
        raise ValueError(f"A comment is at most {Rating.COMMENT_MAX_LENGTH} characters.")
    stored_source = Rating.Source(source)  # ValueError on anything else
    with transaction.atomic():
        # The race: two ratings of one handoff at once (two tabs, a bot retrying without an
        # Idempotency-Key, the visitor and the bot). The conversation lock makes them take
        # turns, so the second finds the first; the one-to-one column is the backstop.
        lock_conversation(handoff.conversation_id)
        handoff = load_handoff(handoff.pk)
        if handoff.status != Handoff.Status.RESOLVED:
            raise IllegalTransition(handoff.pk, handoff.status, "rated")
        try:
            with transaction.atomic():
                rating = Rating.objects.create(
                    handoff=handoff, score=score, comment=comment, source=stored_source
                )
        except IntegrityError:
            raise AlreadyRated(handoff.pk) from None
        record_handoff_event(handoff, "handoff.rated", rating=rating_json(rating))
        transaction.on_commit(
            partial(
                announce,
                signals.handoff_rated,
                sender=Rating,
                handoff_id=handoff.pk,
                rating_id=rating.pk,
            )
        )
    return rating


def rating_of(handoff: Handoff) -> Rating | None:
    return Rating.objects.filter(handoff_id=handoff.pk).first()


def conversation_ratings(conversation_id: int) -> list[Rating]:
    """The ratings of a conversation's handoffs, oldest handoff first: one query."""
    return list(
        Rating.objects.filter(handoff__conversation_id=conversation_id).order_by("handoff_id")
    )


class CsatSummary(TypedDict):
    average: float | None
    responses: int
    resolved: int
    response_rate: float | None


def csat_summary(handoffs: QuerySet[Handoff]) -> CsatSummary:
    """CSAT over these handoffs, in one query: the average score of the rated ones (None:
    none rated), how many were rated (responses) and resolved, and responses / resolved
    (None: none resolved). Only resolved handoffs can be rated.

    `handoffs` must hold each handoff once: a filter across a many-valued relation (two
    labels at once) would count a handoff per match. One label, as reports filter, is fine.
    """
    totals = handoffs.order_by().aggregate(
        resolved=Count("pk", filter=Q(status=Handoff.Status.RESOLVED)),
        responses=Count("rating"),
        average=Avg("rating__score"),
    )
    resolved, responses = totals["resolved"], totals["responses"]
    average = totals["average"]
    return {
        "average": float(average) if average is not None else None,
        "responses": responses,
        "resolved": resolved,
        "response_rate": responses / resolved if resolved else None,
    }
