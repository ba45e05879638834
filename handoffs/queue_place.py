"""A pending handoff's place in the queue: its position and the wait estimate.

Routing, a higher app, computes them (routing/position.py) and registers itself here in its
AppConfig.ready(), so that the handoff JSON, the system messages and the inbox show them
without importing it. Without a registered source there is no place (None, {}).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from handoffs.models import Handoff


@dataclass(frozen=True)
class QueuePlace:
    position: int  # 1 = next
    estimated_wait_seconds: int | None  # None: not known (nobody online and no history)
    agents_online: int

    def as_json(self) -> dict:
        return {
            "position": self.position,
            "estimated_wait_seconds": self.estimated_wait_seconds,
            "agents_online": self.agents_online,
        }


class QueueSource(Protocol):
    def positions(self, handoffs: Iterable[Handoff]) -> dict[int, int]:
        """{id: position} of the pending ones: one query however many."""
        ...

    def places(self, handoffs: Sequence[Handoff]) -> dict[int, QueuePlace]:
        """{id: place} of the pending ones: a few queries however many."""
        ...


_source: QueueSource | None = None


def register_queue_source(source: QueueSource) -> None:
    global _source
    _source = source


def positions(handoffs: Iterable[Handoff]) -> dict[int, int]:
    pending = [h for h in handoffs if h.status == Handoff.Status.PENDING]
    return _source.positions(pending) if _source is not None and pending else {}


def place_of(handoff: Handoff) -> QueuePlace | None:
    """The handoff's place while it is pending; None otherwise (no query then)."""
    if _source is None or handoff.status != Handoff.Status.PENDING:
        return None
    return _source.places([handoff]).get(handoff.pk)


# --- Words ------------------------------------------------------------------------------

# (less than a minute, about one minute, about {n} minutes, about one hour, about {n} hours)
_WAIT_WORDS = {
    "en": (
        "less than a minute",
        "about 1 minute",
        "about {n} minutes",
        "about 1 hour",
        "about {n} hours",
    ),
    "fr": (
        "moins d'une minute",
        "environ 1 minute",
        "environ {n} minutes",
        "environ 1 heure",
        "environ {n} heures",
    ),
    "es": (
        "menos de un minuto",
        "alrededor de 1 minuto",
        "alrededor de {n} minutos",
        "alrededor de 1 hora",
        "alrededor de {n} horas",
    ),
}


def wait_words(seconds: int | None, language: str = "en") -> str:
    """The estimate as people say it, in the user's language (English when not shipped):
    "less than a minute", "about 3 minutes", "about 2 hours"; "" when unknown."""
    if seconds is None:
        return ""
    under, one_minute, minutes, one_hour, hours = _WAIT_WORDS.get(
        language.lower().replace("_", "-").split("-")[0], _WAIT_WORDS["en"]
    )
    if seconds < 60:
        return under
    n = round(seconds / 60)
    if n < 60:
        return one_minute if n == 1 else minutes.format(n=n)
    n = round(seconds / 3600)
    return one_hour if n == 1 else hours.format(n=n)
