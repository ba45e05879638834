"""Search (/search/, handoffs/search.py): what it finds, how hits show, paging and limits.

Runs on SQLite (substring scan) and, with DATABASE_URL, on PostgreSQL (full-text search and
the trigram-served variables test): the expectations are the same, whole words on both.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conversations.models import Message
from handoffs.models import Handoff
from handoffs.search import PAGE_SIZE, SearchQuery, search_handoffs, text_snippet
from tests.factories import (
    ConversationFactory,
    EndUserFactory,
    HandoffFactory,
    MessageFactory,
)

pytestmark = pytest.mark.django_db
URL = "/search/"


@pytest.fixture
def client(agent):
    client = Client()
    client.force_login(agent)
    return client


def handoff_of(bot, *, variables=None, status=Handoff.Status.PENDING, channel="web", **extra):
    user = EndUserFactory(bot=bot, variables=variables if variables is not None else {})
    conversation = ConversationFactory(bot=bot, end_user=user, channel=channel)
    return HandoffFactory(conversation=conversation, status=status, **extra)


def say(handoff, text, *, direction=Message.Direction.INCOMING, in_handoff=True, **extra):
    return MessageFactory(
        conversation=handoff.conversation,
        handoff=handoff if in_handoff else None,
        direction=direction,
        text=text,
        **extra,
    )


def hits(text, page=1):
    return search_handoffs(SearchQuery.parse(text), page=page).hits


def found(text):
    return [(hit.kind, hit.handoff.pk) for hit in hits(text)]


# --- The page ---------------------------------------------------------------------------------


def test_an_empty_query_shows_a_hint_in_the_search_region(client):
    response = client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="region" aria-label="Search"' in html
    assert "Type a user's name, email" in html
    assert client.get(URL, {"q": "   "}).content.decode().count("Type a user's name") == 1


def test_a_too_long_query_is_refused_with_a_clear_message(client, bot):
    say(handoff_of(bot), "x" * 300)

    response = client.get(URL, {"q": "x" * 201})

    assert response.status_code == 422
    html = response.content.decode()
    assert "Search for at most 200 characters (this is 201)" in html
    assert "search-hit" not in html
    assert client.get(URL, {"q": "x" * 200}).status_code == 200


def test_search_refuses_post(client):
    assert client.post(URL, {"q": "x"}).status_code == 405


def test_every_agent_page_links_to_search_and_has_a_search_box(client):
    html = client.get("/").content.decode()

    assert f'<a href="{URL}">Search</a>' in html
    assert 'aria-label="Search handoffs"' in html
    search_page = client.get(URL).content.decode()
    assert f'<a href="{URL}" aria-current="page">Search</a>' in search_page
    # On the search page itself, its own box only.
    assert 'aria-label="Search handoffs"' not in search_page


def test_a_hit_shows_name_id_status_channel_date_and_the_marked_snippet(client, bot):
    handoff = handoff_of(
        bot,
        variables={"fullName": "Grace Hopper"},
        status=Handoff.Status.RESOLVED,
        channel="whatsapp",
    )
    say(handoff, "My parcel never arrived, can you check the parcel tracking?")

    response = client.get(URL, {"q": "Parcel"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "Grace Hopper" in html
    assert f"#{handoff.pk}" in html
    assert "Resolved" in html and "whatsapp" in html
    assert f'href="{reverse("handoff", args=[handoff.pk])}"' in html
    assert "<mark>parcel</mark> never arrived" in html
    assert "check the <mark>parcel</mark> tracking" in html
    assert "Message from the user:" in html


def test_user_text_is_escaped_before_the_match_is_marked(client, bot):
    handoff = handoff_of(bot, variables={"fullName": "<b>Eve</b>", "note": "<i>evil</i> plan"})
    say(handoff, '<script>alert("x")</script> refund <img src=x onerror=alert(1)>')

    html = client.get(URL, {"q": "refund"}).content.decode()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; <mark>refund</mark> &lt;img" in html
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;b&gt;Eve&lt;/b&gt;" in html

    html = client.get(URL, {"q": "<i>evil"}).content.decode()
    assert "<mark>&lt;i&gt;evil</mark>&lt;/i&gt; plan" in html


def test_paging_twenty_a_page_newest_first(client, bot):
    handoff = handoff_of(bot)
    for n in range(PAGE_SIZE + 5):
        say(handoff, f"invoice number {n}")

    first = client.get(URL, {"q": "invoice"}).content.decode()
    second = client.get(URL, {"q": "invoice", "page": "2"}).content.decode()

    assert first.count('class="search-hit"') == PAGE_SIZE
    assert second.count('class="search-hit"') == 5
    assert "Older hits" in first and "Newer hits" not in first
    assert "Newer hits" in second and "Older hits" not in second
    texts = [hit.snippet[-1].text for hit in hits("invoice")]
    assert texts == [f" number {n}" for n in range(PAGE_SIZE + 4, 4, -1)]
    assert client.get(URL, {"q": "invoice", "page": "x"}).status_code == 200  # page 1


def test_the_page_costs_the_same_queries_whatever_the_hits(client, bot, django_assert_num_queries):
    for n in range(5):
        handoff = handoff_of(bot, variables={"fullName": f"Tracking User {n}"})
        say(handoff, "tracking please", in_handoff=n % 2 == 0)
    # Session and user; the user hits; the tsquery's words and the newest message id
    # (PostgreSQL only); the message hits; which of their conversations have a handoff
    # (PostgreSQL only); the messages; the handoffs of messages written outside one; the
    # handoffs; the header's six (the Reports link's role and permissions, the online agents,
    # the load).
    expected = 16 if connection.vendor == "postgresql" else 13
    with django_assert_num_queries(expected):
        assert client.get(URL, {"q": "tracking"}).status_code == 200


# --- What it finds ----------------------------------------------------------------------------


def test_finds_by_name_email_and_any_variable_as_typed(bot):
    ada = handoff_of(
        bot,
        variables={
            "fullName": "Ada Lovelace",
            "email": "ada@example.com",
            "address": {"city": "Zürich"},
            "orders": ["A-1042", "B-7"],
        },
    )
    handoff_of(bot, variables={"fullName": "Alan Turing", "email": "alan@example.org"})

    assert found("lovelace") == [("user", ada.pk)]
    assert found("ADA@EXAMPLE.COM") == [("user", ada.pk)]
    assert found("Zürich") == [("user", ada.pk)]
    assert found("A-1042") == [("user", ada.pk)]
    [hit] = hits("example.com")
    assert hit.where == "email"
    assert [p.text for p in hit.snippet if p.match] == ["example.com"]
    [hit] = hits("1042")
    assert hit.where == "orders"


def test_variable_keys_and_numbers_alone_do_not_match(bot):
    handoff_of(bot, variables={"fullName": "Ada", "email": "ada@example.com", "zip": 12345})

    assert found("email") == []
    assert found("fullName") == []
    assert found("12345") == []


def test_every_handoff_of_a_matching_user_is_a_hit(bot):
    user = EndUserFactory(bot=bot, variables={"fullName": "Linus Torvalds"})
    first = HandoffFactory(
        conversation=ConversationFactory(bot=bot, end_user=user), status=Handoff.Status.RESOLVED
    )
    second = HandoffFactory(conversation=ConversationFactory(bot=bot, end_user=user))

    assert found("torvalds") == [("user", second.pk), ("user", first.pk)]


def test_finds_messages_holding_every_word_whatever_the_case(bot):
    handoff = handoff_of(bot)
    match = say(handoff, "The Parcel to Lyon is LATE again")
    say(handoff, "the parcel is here")

    [hit] = hits("late parcel")
    assert (hit.kind, hit.handoff.pk, hit.at) == ("message", handoff.pk, match.created_at)
    assert [p.text for p in hit.snippet if p.match] == ["Parcel", "LATE"]
    assert found("parcel") == [("message", handoff.pk)] * 2
    assert found("parcel moon") == []


def test_words_match_from_their_start(bot):
    handoff = handoff_of(bot)
    say(handoff, "Merci beaucoup, ma commande n'est pas arrivée")

    assert found("comm") == [("message", handoff.pk)]
    assert found("arrivée") == [("message", handoff.pk)]
    # Lower-cased before SQLite's LIKE, which folds ASCII letters only.
    assert found("ARRIVÉE") == [("message", handoff.pk)]


def test_system_messages_and_conversations_without_handoff_are_not_hits(bot):
    handoff = handoff_of(bot)
    say(handoff, "An agent will take over the refund", direction=Message.Direction.SYSTEM)
    MessageFactory(conversation=ConversationFactory(bot=bot), text="refund without a handoff")

    assert found("refund") == []


def test_pages_skip_the_many_newest_matches_without_a_handoff(bot):
    handoff = handoff_of(bot)
    older = [say(handoff, f"coupon {n}") for n in range(PAGE_SIZE + 2)]
    bots_alone = ConversationFactory(bot=bot)
    for n in range(3 * PAGE_SIZE):
        MessageFactory(conversation=bots_alone, text=f"coupon from the bot alone {n}")

    first, second = hits("coupon"), hits("coupon", page=2)

    assert [h.snippet[-1].text for h in first] == [f" {n}" for n in range(PAGE_SIZE + 1, 1, -1)]
    assert [h.snippet[-1].text for h in second] == [" 1", " 0"]
    assert {h.handoff.pk for h in first + second} == {handoff.pk}
    assert len(older) == PAGE_SIZE + 2


def test_bot_and_agent_messages_are_hits_too(bot, agent):
    handoff = handoff_of(bot)
    say(handoff, "Your voucher code is X1", direction=Message.Direction.OUTGOING)
    say(handoff, "I sent you a voucher", direction=Message.Direction.AGENT, author=agent)

    assert [hit.where for hit in hits("voucher")] == [
        "Message from an agent",
        "Message from the bot",
    ]


def test_a_message_written_outside_a_handoff_shows_in_the_handoff_it_led_to(bot):
    user = EndUserFactory(bot=bot)
    conversation = ConversationFactory(bot=bot, end_user=user)
    now = timezone.now()
    old = HandoffFactory(
        conversation=conversation,
        status=Handoff.Status.RESOLVED,
        created_at=now - timedelta(hours=3),
    )
    new = HandoffFactory(conversation=conversation, created_at=now - timedelta(hours=1))
    MessageFactory(conversation=conversation, text="before first", created_at=now - timedelta(4))
    MessageFactory(
        conversation=conversation, text="between them", created_at=now - timedelta(hours=2)
    )
    MessageFactory(conversation=conversation, text="after both", created_at=now)

    assert found("first") == [("message", old.pk)]
    assert found("between") == [("message", new.pk)]
    assert found("both") == [("message", new.pk)]


def test_newest_first_across_the_recent_window(bot, monkeypatch):
    # PostgreSQL looks among the newest RECENT_IDS messages first, then the older ones.
    monkeypatch.setattr("handoffs.search.RECENT_IDS", 7)
    handoff = handoff_of(bot)
    for n in range(30):
        say(handoff, f"gift {n}" if n % 3 else "no match here")
    expected = [f" {n}" for n in range(29, -1, -1) if n % 3]

    pages = [hits("gift", page=1), hits("gift", page=2)]

    assert [h.snippet[-1].text for page in pages for h in page] == expected


def test_wildcards_and_quotes_are_plain_characters(bot):
    handoff = handoff_of(bot, variables={"fullName": 'Ann "Nan" O\'Hara', "code": "50%_off"})

    assert found("50%") == [("user", handoff.pk)]
    assert found("%_o") == [("user", handoff.pk)]
    assert found("0_%") == []
    assert found('"Nan"') == [("user", handoff.pk)]
    assert found("o'hara") == [("user", handoff.pk)]
    assert found("a.*e") == []
    assert found("\\") == []
    assert found("\x01 or \u2028") == []


def test_users_come_first_then_messages_newest_first(bot):
    now = timezone.now()
    older = handoff_of(bot, variables={"fullName": "Kim Refund"}, created_at=now - timedelta(1))
    newer = handoff_of(bot)
    say(newer, "refund please")
    latest = say(newer, "the refund again")

    assert found("refund") == [("user", older.pk), ("message", newer.pk), ("message", newer.pk)]
    assert hits("refund")[1].at == latest.created_at


def test_short_queries_search_messages_only(bot):
    handoff = handoff_of(bot, variables={"fullName": "Al Bo"})
    say(handoff, "al dente")

    assert found("al") == [("message", handoff.pk)]
    assert found("al bo") == [("user", handoff.pk)]


def test_pages_run_on_from_users_into_messages(bot):
    user = EndUserFactory(bot=bot, variables={"fullName": "Page Turner"})
    handoffs = [
        HandoffFactory(conversation=ConversationFactory(bot=bot, end_user=user))
        for _ in range(PAGE_SIZE + 3)
    ]
    for n in range(PAGE_SIZE):
        say(handoffs[0], f"turner note {n}")

    first, second = hits("turner"), hits("turner", page=2)

    assert [h.kind for h in first] == ["user"] * PAGE_SIZE
    assert [h.kind for h in second] == ["user"] * 3 + ["message"] * (PAGE_SIZE - 3)
    assert [h.snippet[-1].text for h in second[3:6]] == [" note 19", " note 18", " note 17"]
    third = search_handoffs(SearchQuery.parse("turner"), page=3)
    assert [h.snippet[-1].text for h in third.hits] == [f" note {n}" for n in (2, 1, 0)]
    assert not third.has_next


# --- Snippets -----------------------------------------------------------------------------------


def test_a_long_message_is_cut_around_its_first_match_at_word_boundaries():
    text = ("lorem ipsum " * 20) + "the needle is here " + ("dolor sit " * 30)

    parts = text_snippet(text, SearchQuery.parse("needle"))

    snippet = "".join(p.text for p in parts)
    assert snippet.startswith("…ipsum") or snippet.startswith("…lorem")
    assert snippet.endswith("…")
    assert len(snippet) <= 205
    assert [p.text for p in parts if p.match] == ["needle"]
