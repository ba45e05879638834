"""Pushed fragments in every page's language.

A push is rendered once, in the language of whoever caused it (a bot's message: English; a
French agent's note: French), and every page forwards it as it is: the page then puts its own
language into the words the fragment marks (static/hitlnext/js/personalize.js) and formats
times and sizes itself. So for each pushed fragment, what a page in any language shows after
that must not depend on the language it was rendered in — the model of the page's work is
tests/personalize.py. An unmarked word fails here (checked by unmarking one).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone, translation

from agents.live import presence_changed
from agents.models import AgentProfile
from conversations.models import Message, Note
from handoffs import live, viewers
from handoffs.models import ConversationDeletion, Handoff, Rating
from hitlnext_project.shared import push
from reports.live import render_wallboard
from routing.live import render_load_of
from tests.factories import (
    ConversationFactory,
    EndUserFactory,
    HandoffFactory,
    LabelFactory,
    MessageFactory,
)
from tests.personalize import as_page_shows

pytestmark = pytest.mark.django_db
LANGUAGES = ("en", "fr", "es")


@pytest.fixture
def pushed(monkeypatch) -> Callable[[Callable[[], object]], list[str]]:
    """Run a push, return the HTML it sent (to any group)."""
    sent: list[str] = []

    def record(group: str, event: dict) -> None:
        if "html" in event:
            sent.append(event["html"])

    monkeypatch.setattr(push, "send_event", record)
    monkeypatch.setattr(live, "send_event", record)

    def run(action: Callable[[], object]) -> list[str]:
        sent.clear()
        result = action()
        if isinstance(result, str):  # a renderer: what its push sends
            sent.append(result)
        assert sent, "the action pushed nothing"
        return list(sent)

    return run


def assert_every_page_shows_the_same(pushed, action: Callable[[], object]) -> None:
    rendered = {}
    for language in LANGUAGES:
        with translation.override(language):
            rendered[language] = pushed(action)
    for page in LANGUAGES:
        shown = {source: [as_page_shows(h, page) for h in rendered[source]] for source in LANGUAGES}
        for source in LANGUAGES:
            difference = "\n".join(
                difflib.unified_diff(
                    "\n".join(shown[page]).splitlines(),
                    "\n".join(shown[source]).splitlines(),
                    lineterm="",
                    n=0,
                )
            )
            assert not difference, f"a {page} page, a push rendered in {source}:\n{difference}"


def record_deletion(handoff: Handoff, *, by, count: int) -> None:
    """The audit line erasure leaves (handoffs.contact.latest_deletion finds it)."""
    ConversationDeletion.objects.create(
        conversation_ref=handoff.conversation.external_id,
        bot_name=handoff.bot.name,
        deleted_by=by,
        message_count=count,
    )


@pytest.fixture
def handoff(bot, agent):
    conversation = ConversationFactory(
        bot=bot, end_user=EndUserFactory(bot=bot, variables={"fullName": "Ada", "plan": "pro"})
    )
    handoff = HandoffFactory(
        conversation=conversation,
        status=Handoff.Status.ASSIGNED,
        agent=agent,
        priority="high",
    )
    handoff.labels.add(LabelFactory(name="billing"))
    return handoff


def test_messages_of_every_kind(pushed, handoff, agent):
    conversation = handoff.conversation
    messages = [
        MessageFactory(conversation=conversation, direction=Message.Direction.INCOMING),
        MessageFactory(conversation=conversation, direction=Message.Direction.OUTGOING),
        MessageFactory(conversation=conversation, direction=Message.Direction.AGENT, author=agent),
        MessageFactory(conversation=conversation, direction=Message.Direction.AGENT, author=None),
        MessageFactory(conversation=conversation, direction=Message.Direction.SYSTEM),
        MessageFactory(
            conversation=conversation,
            text="",
            payload={
                "type": "file",
                "url": "https://example.com/a.pdf",
                "name": "a.pdf",
                "size": 123456,
            },
        ),  # fmt: skip
        MessageFactory(
            conversation=conversation,
            text="",
            payload={"type": "image", "url": "https://example.com/a.png", "name": "a.png"},
        ),
        MessageFactory(
            conversation=conversation,
            text="",
            payload={"type": "card", "title": "Plans", "buttons": [{"title": "Pro"}]},
        ),
    ]
    for message in messages:
        assert_every_page_shows_the_same(pushed, lambda m=message: live.message_added(m.pk))


def test_the_inbox_item_and_the_panels_head(pushed, handoff):
    assert_every_page_shows_the_same(pushed, lambda: live.handoff_changed(handoff.pk))
    Handoff.objects.filter(pk=handoff.pk).update(status=Handoff.Status.PENDING, agent=None)
    assert_every_page_shows_the_same(pushed, lambda: live.handoff_changed(handoff.pk))
    Handoff.objects.filter(pk=handoff.pk).update(status=Handoff.Status.RESOLVED)
    assert_every_page_shows_the_same(pushed, lambda: live.handoff_changed(handoff.pk))


def test_notes(pushed, handoff, agent):
    by_agent = Note.objects.create(
        conversation=handoff.conversation, handoff=handoff, author=agent, text="VIP"
    )
    by_someone_gone = Note.objects.create(
        conversation=handoff.conversation, handoff=None, author=None, text="old"
    )
    for note in (by_agent, by_someone_gone):
        assert_every_page_shows_the_same(pushed, lambda n=note: live.note_added(n.pk))


def test_contact_details(pushed, handoff):
    assert_every_page_shows_the_same(
        pushed, lambda: live.contact_changed(handoff.conversation_id, name_changed=False)
    )
    handoff.conversation.end_user.variables = {}
    handoff.conversation.end_user.save()
    assert_every_page_shows_the_same(
        pushed, lambda: live.contact_changed(handoff.conversation_id, name_changed=False)
    )


def test_ratings_from_either_source(pushed, handoff):
    Handoff.objects.filter(pk=handoff.pk).update(status=Handoff.Status.RESOLVED)
    Rating.objects.create(handoff=handoff, score=4, comment="ok", source=Rating.Source.WEBCHAT)
    other = HandoffFactory(conversation=handoff.conversation, status=Handoff.Status.RESOLVED)
    Rating.objects.create(handoff=other, score=2, source=Rating.Source.BOT)
    assert_every_page_shows_the_same(pushed, lambda: live.handoff_rated(handoff.pk))


@pytest.mark.parametrize("count", [1, 3])
def test_labels_and_the_deletion_note(pushed, handoff, agent, settings, count):
    settings.HITLNEXT_ENABLE_CONVERSATION_DELETION = True
    Handoff.objects.filter(pk=handoff.pk).update(status=Handoff.Status.RESOLVED)
    assert_every_page_shows_the_same(pushed, lambda: live.handoff_changed(handoff.pk))
    record_deletion(handoff, by=agent, count=count)
    assert_every_page_shows_the_same(pushed, lambda: live.handoff_changed(handoff.pk))
    assert any("deletion-note" in html for html in pushed(lambda: live.handoff_changed(handoff.pk)))
    ConversationDeletion.objects.update(deleted_by=None)
    assert_every_page_shows_the_same(pushed, lambda: live.handoff_changed(handoff.pk))


def test_the_transfer_notice(pushed, handoff, agent):
    assert_every_page_shows_the_same(
        pushed, lambda: live.handoff_transferred(handoff.pk, to_agent_id=agent.pk, by_name="Bob")
    )


def test_typing_and_reloads(pushed, handoff):
    assert_every_page_shows_the_same(pushed, lambda: live.user_typing(handoff.conversation_id))
    assert_every_page_shows_the_same(
        pushed, lambda: live.conversation_deleted(handoff.conversation_id)
    )


def test_a_user_without_a_name_everywhere_a_push_shows_one(pushed, handoff, agent, settings):
    settings.HITLNEXT_DEFAULT_USERNAME = False
    handoff.conversation.end_user.variables = {}
    handoff.conversation.end_user.save()
    message = MessageFactory(conversation=handoff.conversation)

    assert_every_page_shows_the_same(pushed, lambda: live.handoff_changed(handoff.pk))
    assert_every_page_shows_the_same(pushed, lambda: live.message_added(message.pk))
    assert_every_page_shows_the_same(
        pushed, lambda: live.contact_changed(handoff.conversation_id, name_changed=True)
    )
    assert_every_page_shows_the_same(
        pushed, lambda: live.handoff_transferred(handoff.pk, to_agent_id=agent.pk, by_name="Bob")
    )
    with translation.override("en"):
        shown = "".join(
            as_page_shows(h, "fr") for h in pushed(lambda: live.handoff_changed(handoff.pk))
        )
    assert ">Utilisateur anonyme</span>" in shown and ">Anonymous User<" not in shown


def test_presence_load_viewers_and_wallboard(pushed, handoff, agent, second_agent):
    assert_every_page_shows_the_same(pushed, lambda: presence_changed(agent.pk))
    AgentProfile.objects.update(online=False)
    assert_every_page_shows_the_same(pushed, lambda: presence_changed(agent.pk))
    assert_every_page_shows_the_same(pushed, lambda: render_load_of(agent))
    assert_every_page_shows_the_same(
        pushed, lambda: viewers.render_viewers(handoff.conversation_id)
    )
    assert_every_page_shows_the_same(pushed, render_wallboard)
    Handoff.objects.filter(pk=handoff.pk).update(
        status=Handoff.Status.PENDING, agent=None, created_at=timezone.now() - timedelta(minutes=3)
    )
    AgentProfile.objects.update(online=True)
    assert_every_page_shows_the_same(pushed, render_wallboard)


def test_a_french_page_reads_a_push_an_english_speaker_caused_in_french(pushed, handoff, agent):
    with translation.override("en"):
        notice = pushed(
            lambda: live.handoff_transferred(handoff.pk, to_agent_id=agent.pk, by_name="Bob")
        )
        record_deletion(handoff, by=agent, count=2)
        Handoff.objects.filter(pk=handoff.pk).update(status=Handoff.Status.RESOLVED)
        parts = pushed(lambda: live.handoff_changed(handoff.pk))

    assert "Bob vous a transféré une demande :" in as_page_shows(notice[0], "fr")
    shown = "".join(as_page_shows(html, "fr") for html in parts)
    assert "Alice Martin a supprimé 2 messages de cette conversation." in shown
    assert "Étiquettes" in shown
    assert "Alice Martin eliminó 2 mensajes de esta conversación." in "".join(
        as_page_shows(html, "es") for html in parts
    )


def test_sizes_and_durations_the_server_writes_are_in_the_active_language():
    from conversations.attachments import human_size
    from reports.charts import format_duration

    with translation.override("fr"):
        assert human_size(1536 * 1024) == "1,5 Mo"
        assert human_size(1) == "1 octet" and human_size(900) == "900 octets"
        assert format_duration(86400 + 4 * 3600) == "1 j 4 h"
    with translation.override("es"):
        assert human_size(2048) == "2,0 KB"
    with translation.override("en"):
        assert human_size(1536 * 1024) == "1.5 MB"
        assert format_duration(2 * 3600 + 5 * 60) == "2 h 05 min"
