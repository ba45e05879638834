"""What text from outside may be: how long, for each kind, and which characters no database
here can store: NUL (PostgreSQL text and jsonb refuse it) and unpaired UTF-16 surrogates
("\\ud800" is valid JSON but no valid Unicode, so it cannot be encoded).

The services that store text check it, so every entry point (the API, the pages, the sockets,
the admin) gets the same clear refusal, never a 500 or a two-megabyte message."""

from __future__ import annotations

import re

from django.utils.formats import number_format
from django.utils.translation import gettext

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# The longest text of each kind, in characters.
# An agent's message goes out to the user's channel: WhatsApp and Telegram take 4,096.
AGENT_MESSAGE_MAX = 4_096
# A note is the team's own record: room for a pasted order or log excerpt.
NOTE_MAX = 10_000
# An anonymous web chat visitor's message.
VISITOR_MESSAGE_MAX = 2_000
# A message a bot relays is whatever its channel carried: refusing it would lose history, so
# its bound is the API's whole body (256 KiB), not a shorter one.
RELAYED_MESSAGE_MAX = 256 * 1024


def check_storable(text: str) -> str:
    """Return the text, or raise ValueError naming the problem."""
    if UNSTORABLE.search(text):
        raise ValueError(
            gettext("The text contains characters that cannot be stored (NUL or similar).")
        )
    return text


def check_length(text: str, *, limit: int, what: str) -> str:
    """Return the text, or raise ValueError saying how long `what` may be."""
    if len(text) > limit:
        raise ValueError(
            gettext("%(what)s holds at most %(limit)s characters.")
            % {"what": what, "limit": number_format(limit, force_grouping=True)}
        )
    return text


def clean_typed_text(text: str, *, limit: int, what: str, empty: str) -> str:
    """What a person typed, stripped, or ValueError: `empty` when nothing is left, else why it
    cannot be stored (characters, then length)."""
    text = check_storable(text.strip())
    if not text:
        raise ValueError(empty)
    return check_length(text, limit=limit, what=what)
