"""Search (/search/?q=): handoffs by their user's name, email and variables, and by message text.

Two kinds of hit, 20 a page, ranked in this order:
- each handoff of a user one of whose variables (fullName, email, any other, nested ones too;
  string values, not keys) contains the query as typed, emails and order numbers whole (3
  characters or more), newest handoff first: the query names the person;
- then each message whose text holds every word of the query (user, bot and agent
  messages; system notices are left out), newest first (the order they were stored in),
  shown in its handoff: the one it was written during, else the conversation's first handoff
  after it (the bot's history that led to it), else its latest.

PostgreSQL: message text by full-text search with language 'simple' (conversations are
multilingual: no stemming, no stop words), each word of the query a word prefix, served by the
GIN index of conversations migration 0009; variables by a case-insensitive substring test,
`variables::text ILIKE` served by a trigram index (pg_trgm), then a jsonpath check that the
match is in a string value and not a key. SQLite (the embedded default): case-insensitive
substrings (`LIKE`, ASCII case folding) over the same rows, a scan. Whole words give the
same hits on both; PostgreSQL does not find a word from its middle ("rder" for "order").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext, gettext_noop

from conversations.models import EndUser, Message
from handoffs.models import Handoff
from handoffs.naming import flatten_variables
from hitlnext_project.shared.ids import ID_MAX

MAX_QUERY_LENGTH = 200
MAX_TERMS = 12
PAGE_SIZE = 20
# Hits are numbered pages (OFFSET): deeper pages cost more, so the list stops here and asks
# for a narrower query.
MAX_PAGES = 50
# Variables are searched for 3 characters or more: a trigram index serves those, and
# shorter ones would match most users.
MIN_VARIABLE_QUERY = 3
# PostgreSQL looks for matches among the newest messages first (by id): see
# _message_hits_in_postgresql.
RECENT_IDS = 50_000
SNIPPET_BEFORE = 60
SNIPPET_LENGTH = 200
_WORD = re.compile(r"\w+")
# What conversations/migrations/0009_message_search.py indexes; the query must use this very
# expression for PostgreSQL to use the index.
MESSAGE_VECTOR = "to_tsvector('simple'::regconfig, {column})"


@dataclass(frozen=True)
class SearchQuery:
    """What the agent typed, trimmed, and its words (at most MAX_TERMS)."""

    text: str
    terms: tuple[str, ...]

    @classmethod
    def parse(cls, raw: str) -> SearchQuery:
        text = " ".join(raw.split())
        terms = tuple(dict.fromkeys(t.lower() for t in _WORD.findall(text)))[:MAX_TERMS]
        return cls(text=text, terms=terms)


@dataclass(frozen=True)
class Part:
    text: str
    match: bool = False


@dataclass
class Hit:
    kind: Literal["message", "user"]
    handoff: Handoff
    at: datetime
    # Where it matched: "Message from the user", "email", "address.city"...
    where: str
    snippet: list[Part] = field(default_factory=list)


@dataclass
class SearchResults:
    hits: list[Hit]
    page: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def search_handoffs(query: SearchQuery, *, page: int = 1) -> SearchResults:
    """One page of hits: users first (their handoffs, newest first), then messages, newest
    first (the order they were stored in).

    Queries: the query's words as PostgreSQL reads them (PostgreSQL only), the user hits up to
    this page, the message hits of this page (unless users fill it), the messages, the
    handoffs of messages written outside one, the handoffs.
    """
    page = min(max(page, 1), MAX_PAGES)
    if not query.text:
        return SearchResults(hits=[], page=page, has_next=False)
    start = (page - 1) * PAGE_SIZE
    wanted = start + PAGE_SIZE + 1  # one more: is there a next page?
    users = list(_user_hits(query)[:wanted]) if len(query.text) >= MIN_VARIABLE_QUERY else []
    rows = [("user", pk, at) for pk, at in users[start:]]
    if len(rows) < PAGE_SIZE + 1:
        skip = max(0, start - len(users))
        messages = _message_hits(query, skip=skip, limit=PAGE_SIZE + 1 - len(rows))
        rows += [("message", pk, at) for pk, at in messages]
    has_next = len(rows) > PAGE_SIZE and page < MAX_PAGES
    return SearchResults(hits=_hits(query, rows[:PAGE_SIZE]), page=page, has_next=has_next)


# --- The two kinds of hit ---------------------------------------------------------------------


def _user_hits(query: SearchQuery) -> QuerySet:
    users = EndUser.objects.filter(pk__in=_users_matching(query.text))
    return (
        Handoff.objects.filter(conversation__end_user__in=users)
        .order_by("-created_at", "-pk")
        .values_list("pk", "created_at")
    )


def _message_hits(query: SearchQuery, *, skip: int, limit: int) -> list[tuple[int, datetime]]:
    """(id, created_at) of messages skip..skip + limit, newest first (by id)."""
    if connection.vendor == "postgresql":
        return _message_hits_in_postgresql(query, skip=skip, limit=limit)
    if not query.terms:
        return []
    condition = Q()
    for term in query.terms:
        condition &= Q(text__icontains=term)
    return list(
        Message.objects.filter(condition)
        .exclude(direction=Message.Direction.SYSTEM)
        # Only conversations the inbox can open: those with a handoff.
        .filter(Exists(Handoff.objects.filter(conversation_id=OuterRef("conversation_id"))))
        .order_by("-pk")
        .values_list("pk", "created_at")[skip : skip + limit]
    )


def _message_hits_in_postgresql(
    query: SearchQuery, *, skip: int, limit: int
) -> list[tuple[int, datetime]]:
    """Newest first: among the newest RECENT_IDS messages, then, if those hold too few
    matches, among the older ones; within each, the newest matches in a conversation with a
    handoff (_matches_with_handoff).

    A common word then costs its matches among the recent messages, not among all of them
    (reading and sorting 281,250 matches took 0.3-0.9 s at 1,000,000 messages); a rare one
    costs one more, cheap, look into the index."""
    tsquery = _prefix_tsquery(query.text)
    if not tsquery:
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM conversations_message")
        newest = cursor.fetchone()[0] or 0
    wanted = skip + limit
    boundary = newest - RECENT_IDS
    kept = _matches_with_handoff(tsquery, above=max(boundary, 0), count=wanted)
    if len(kept) < wanted and boundary > 0:
        kept += _matches_with_handoff(tsquery, above=0, up_to=boundary, count=wanted - len(kept))
    return kept[skip:wanted]


def _matches_with_handoff(
    tsquery: str, *, above: int, count: int, up_to: int | None = None
) -> list[tuple[int, datetime]]:
    """The newest `count` matches with above < id <= up_to, in conversations with a handoff.

    The matches always come from the GIN index: the subquery's OFFSET 0 keeps the planner
    from merging it with the ORDER BY ... LIMIT. Told "newest first, 21 rows", PostgreSQL
    would otherwise walk the primary key backwards computing each message's tsvector, hoping
    to meet 21 matches early, and read the whole table when the word is rare (0.7 s at
    100,000 messages for a word no message has).

    Whether the conversation has a handoff is checked on the newest matches only, fetching
    more while too many have none: checked in SQL on every match, the join cost as much as
    the search (PostgreSQL hashes every handoff's conversation, guessing that a word it has
    no statistics for is in 0.5% of the messages)."""
    vector = MESSAGE_VECTOR.format(column="text")
    fetch = count
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, created_at, conversation_id FROM ("
                "  SELECT id, created_at, conversation_id FROM conversations_message"
                f"  WHERE {vector} @@ to_tsquery('simple'::regconfig, %s) AND direction <> %s"
                "  AND id > %s AND id <= %s OFFSET 0"
                ") AS m ORDER BY id DESC LIMIT %s",
                [tsquery, Message.Direction.SYSTEM, above, up_to or ID_MAX, fetch],
            )
            rows = cursor.fetchall()
        if not rows:
            return []
        with_handoff = set(
            Handoff.objects.filter(conversation_id__in={row[2] for row in rows}).values_list(
                "conversation_id", flat=True
            )
        )
        kept = [(pk, at) for pk, at, conversation_id in rows if conversation_id in with_handoff]
        if len(kept) >= count or len(rows) < fetch:
            return kept[:count]
        fetch *= 4  # conversations without a handoff (the bot's alone) among the newest


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _users_matching(text: str) -> RawSQL:
    """The ids of the users with a string variable containing `text`, case-insensitively."""
    if connection.vendor == "postgresql":
        # A JSON string is a jsonpath string. like_regex with flag "q": the text is matched
        # literally, "i": case-insensitively.
        literal = json.dumps(text, ensure_ascii=False)
        path = f'$.** ? (@.type() == "string" && @ like_regex {literal} flag "iq")'
        prefilter = ""
        params: list[str] = []
        if literal == f'"{text}"':
            # The JSON text holds quotes, backslashes and control characters escaped: only a
            # text JSON leaves alone can be looked up in it.
            prefilter = "variables::text ILIKE %s AND "
            params.append(_like(text))
        return RawSQL(
            f"SELECT id FROM conversations_enduser WHERE {prefilter}variables @? %s::jsonpath",
            [*params, path],
        )
    return RawSQL(
        "SELECT u.id FROM conversations_enduser u WHERE EXISTS (SELECT 1 FROM "
        "json_tree(u.variables) t WHERE t.type = 'text' AND t.atom LIKE %s ESCAPE '\\')",
        [_like(text)],
    )


def _prefix_tsquery(text: str) -> str:
    """Every word of `text` as PostgreSQL's 'simple' parser cuts it (emails, "-123" and
    hyphenated words as it does in the messages), each a prefix, all required."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lexeme FROM unnest(to_tsvector('simple'::regconfig, %s)) ORDER BY lexeme",
            [text[:MAX_QUERY_LENGTH]],
        )
        lexemes = [row[0] for row in cursor.fetchall()][:MAX_TERMS]
    quoted = ("'" + lex.replace("\\", "\\\\").replace("'", "''") + "':*" for lex in lexemes)
    return " & ".join(quoted)


# --- The page's hits --------------------------------------------------------------------------


def _hits(query: SearchQuery, rows: list[tuple[str, int, datetime]]) -> list[Hit]:
    """The rows as hits, each with its handoff (and user) loaded."""
    message_ids = [hit_id for kind, hit_id, _ in rows if kind == "message"]
    messages = Message.objects.in_bulk(message_ids)
    handoff_of = _handoffs_of(list(messages.values()))
    wanted = {hit_id for kind, hit_id, _ in rows if kind == "user"} | set(handoff_of.values())
    handoffs = Handoff.objects.select_related("conversation__end_user", "agent").in_bulk(wanted)
    hits = []
    for kind, hit_id, at in rows:
        if kind == "user":
            handoff = handoffs[hit_id]
            where, snippet = _variable_snippet(handoff.conversation.end_user.variables, query)
            hits.append(Hit("user", handoff, at, where, snippet))
        elif hit_id in messages and messages[hit_id].pk in handoff_of:
            message = messages[hit_id]
            handoff = handoffs[handoff_of[message.pk]]
            where = gettext(WRITERS.get(message.direction, gettext_noop("Message")))
            hits.append(Hit("message", handoff, at, where, text_snippet(message.text, query)))
    return hits


WRITERS: dict[str, str] = {
    Message.Direction.INCOMING: gettext_noop("Message from the user"),
    Message.Direction.OUTGOING: gettext_noop("Message from the bot"),
    Message.Direction.AGENT: gettext_noop("Message from an agent"),
}


def _handoffs_of(messages: list[Message]) -> dict[int, int]:
    """Each message's handoff: its own, else the first one after it, else the latest."""
    result = {m.pk: m.handoff_id for m in messages if m.handoff_id is not None}
    loose = [m for m in messages if m.handoff_id is None]
    if loose:
        by_conversation: dict[int, list[tuple[datetime, int]]] = {}
        for conversation_id, created_at, pk in (
            Handoff.objects.filter(conversation_id__in={m.conversation_id for m in loose})
            .order_by("created_at", "pk")
            .values_list("conversation_id", "created_at", "pk")
        ):
            by_conversation.setdefault(conversation_id, []).append((created_at, pk))
        for message in loose:
            handoffs = by_conversation.get(message.conversation_id)
            if handoffs:
                later = [pk for created_at, pk in handoffs if created_at >= message.created_at]
                result[message.pk] = later[0] if later else handoffs[-1][1]
    return result


# --- Snippets: plain text parts, the template escapes them and marks the matches -------------


def highlight(text: str, needles: list[str]) -> list[Part]:
    needles = [n for n in needles if n]
    if not needles:
        return [Part(text)] if text else []
    pattern = re.compile(
        "|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True)), re.IGNORECASE
    )
    parts, end = [], 0
    for found in pattern.finditer(text):
        if found.start() > end:
            parts.append(Part(text[end : found.start()]))
        parts.append(Part(found.group(), match=True))
        end = found.end()
    if end < len(text):
        parts.append(Part(text[end:]))
    return parts


def text_snippet(text: str, query: SearchQuery) -> list[Part]:
    """The text around its first match, whole words, with every match marked."""
    text = " ".join(text.split())
    lowered = text.lower()
    positions = [p for p in (lowered.find(t) for t in query.terms) if p >= 0]
    first = min(positions, default=0)
    start = max(0, first - SNIPPET_BEFORE)
    if start:
        space = text.find(" ", start, first)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + SNIPPET_LENGTH)
    if end < len(text):
        space = text.rfind(" ", max(first + 1, start), end)
        end = space if space > first else end
    window = ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
    return highlight(window, list(query.terms))


def _variable_snippet(variables, query: SearchQuery) -> tuple[str, list[Part]]:
    needle = query.text.lower()
    for key, value in flatten_variables(variables):
        if needle in value.lower():
            if len(value) > SNIPPET_LENGTH:
                return key, text_snippet(value, SearchQuery(query.text, (needle,)))
            return key, highlight(value, [query.text])
    return "User", []
