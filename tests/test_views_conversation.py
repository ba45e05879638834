"""The conversation panel and its actions: the access matrix of every view."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from conversations.models import Message
from handoffs.models import Handoff, HandoffRead
from tests.factories import HandoffFactory, MessageFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "conversation"}
Status = Handoff.Status


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def pending(bot):
    return HandoffFactory(conversation__bot=bot)


@pytest.fixture
def assigned(bot, agent):
    return HandoffFactory(conversation__bot=bot, status=Status.ASSIGNED, agent=agent)


def message_ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'<article id="message-(\d+)"', response.content.decode())]


# --- reading ----------------------------------------------------------------------------


def test_panel_is_the_messages_region_with_contact_details(agent, pending):
    response = logged_in(agent).get(f"/handoffs/{pending.pk}/", **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="conversation"')
    assert 'aria-label="Messages"' in html
    assert 'role="region" aria-label="Contact details"' in html
    assert ">Assign to me</button>" in html
    assert "composer-text" not in html  # nobody writes to a pending handoff


def test_panel_is_also_a_whole_page(agent, pending):
    html = logged_in(agent).get(f"/handoffs/{pending.pk}/").content.decode()

    assert html.startswith("<!doctype html>")
    assert 'aria-label="Handoffs"' in html and 'aria-label="Messages"' in html
    assert f'id="handoff-{pending.pk}"' in html and "is-selected" in html


def test_panel_shows_the_last_messages_in_order_and_loads_older(settings, agent, pending):
    settings.HITLNEXT_MESSAGE_COUNT = 3
    messages = [MessageFactory(conversation=pending.conversation) for _ in range(7)]
    client = logged_in(agent)

    panel = client.get(f"/handoffs/{pending.pk}/", **HTMX)
    assert message_ids(panel) == [m.pk for m in messages[-3:]]
    before = re.search(r"\?before=(\d+)", panel.content.decode()).group(1)
    assert int(before) == messages[-3].pk

    older = client.get(f"/handoffs/{pending.pk}/messages/", {"before": before})
    assert message_ids(older) == [m.pk for m in messages[1:4]]
    before = re.search(r"\?before=(\d+)", older.content.decode()).group(1)

    oldest = client.get(f"/handoffs/{pending.pk}/messages/", {"before": before})
    assert message_ids(oldest) == [messages[0].pk]
    assert "?before=" not in oldest.content.decode()


def test_older_messages_need_a_cursor(agent, pending):
    response = logged_in(agent).get(f"/handoffs/{pending.pk}/messages/", {"before": "x"})

    assert response.status_code == 400


def test_messages_are_styled_by_author_and_payloads_are_readable(agent, assigned):
    conversation = assigned.conversation
    MessageFactory(conversation=conversation, direction="incoming", text="Hi <b>there</b>")
    MessageFactory(
        conversation=conversation,
        direction="outgoing",
        text="",
        payload={"type": "choice", "choices": [{"title": "Yes"}, {"title": "No"}]},
    )
    Message.objects.create(conversation=conversation, direction="agent", author=agent, text="Hello")
    Message.objects.create(conversation=conversation, direction="system", text="Transferred")

    html = logged_in(agent).get(f"/handoffs/{assigned.pk}/", **HTMX).content.decode()

    for kind in ("message-user", "message-bot", "message-agent", "message-system"):
        assert kind in html
    assert "Hi &lt;b&gt;there&lt;/b&gt;" in html
    assert "[choice] Yes / No" in html
    assert ">Alice Martin</span>" in html


def test_viewing_a_conversation_changes_nothing_on_the_server(agent, pending):
    # A GET is safe (a prefetch, a crawler, a link in a mail may cause it): the page marks
    # the conversation read over its socket once the agent sees it (tests/test_consumers.py).
    page = logged_in(agent).get(f"/handoffs/{pending.pk}/", **HTMX)
    whole = logged_in(agent).get(f"/handoffs/{pending.pk}/")

    assert page.status_code == whole.status_code == 200
    assert not HandoffRead.objects.exists()


def test_the_assignee_gets_the_composer_and_resolve(agent, assigned):
    html = logged_in(agent).get(f"/handoffs/{assigned.pk}/", **HTMX).content.decode()

    assert '<label for="composer-text-' in html and ">Message</label>" in html
    assert ">Send</button>" in html
    assert ">Resolve</button>" in html


def test_a_watcher_reads_and_the_composer_shows_to_the_assignee_alone(second_agent, assigned):
    # The composer is in a watcher's page too, so that a transfer hands it over live; the
    # page's own style shows it for its agent's handoffs only (e2e/test_transfer.py checks
    # what a browser shows).
    html = logged_in(second_agent).get(f"/handoffs/{assigned.pk}/").content.decode()

    assert f'class="handoff-head" data-status="assigned" data-agent="{assigned.agent_id}"' in html
    own = f'.handoff-head[data-status="assigned"][data-agent="{second_agent.pk}"]) .composer'
    assert own in html and assigned.agent_id != second_agent.pk
    assert "Alice Martin is answering; you are watching." in html


@pytest.mark.parametrize("path", ["", "messages/?before=1"])
def test_reading_views_refuse_anonymous_post_and_bad_ids(client, agent, pending, path):
    url = f"/handoffs/{pending.pk}/{path}"
    assert client.get(url).status_code == 302
    assert logged_in(agent).post(url).status_code == 405
    assert logged_in(agent).get(f"/handoffs/999999/{path}").status_code == 404


@pytest.mark.parametrize("messages", [5, 50])
def test_panel_query_count_does_not_grow_with_messages(
    agent, assigned, django_assert_num_queries, messages
):
    for i in range(messages):
        if i % 2:
            MessageFactory(conversation=assigned.conversation)
        else:
            Message.objects.create(
                conversation=assigned.conversation, direction="agent", author=agent, text="x"
            )
    client = logged_in(agent)

    # session, user, the handoff, the messages (with authors); the contact column: the labels,
    # the notes, the ratings (an active handoff needs no deletion lookup). No write: a GET
    # marks nothing.
    with django_assert_num_queries(7):
        response = client.get(f"/handoffs/{assigned.pk}/", **HTMX)

    assert len(message_ids(response)) == min(messages, 10)


# --- actions ----------------------------------------------------------------------------

ACTIONS = ["assign", "send", "resolve"]


@pytest.mark.parametrize("action", ACTIONS)
def test_actions_refuse_anonymous_get_bad_id_and_missing_csrf(client, agent, assigned, action):
    url = f"/handoffs/{assigned.pk}/{action}/"
    assert client.post(url, {"text": "x"}).status_code == 302
    assert logged_in(agent).get(url).status_code == 405
    assert logged_in(agent).post(f"/handoffs/999999/{action}/", {"text": "x"}).status_code == 404
    csrf = logged_in(agent, enforce_csrf_checks=True)
    assert csrf.post(url, {"text": "x"}).status_code == 403
    assigned.refresh_from_db()
    assert assigned.status == Status.ASSIGNED
    assert not assigned.conversation.messages.exists()


def test_assign_to_me_answers_the_panel_with_the_composer(agent, pending):
    response = logged_in(agent).post(f"/handoffs/{pending.pk}/assign/", **HTMX)

    pending.refresh_from_db()
    assert (pending.status, pending.agent) == (Status.ASSIGNED, agent)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="conversation"')
    assert "composer-text" in html


def test_assign_without_htmx_redirects_to_the_panel(agent, pending):
    response = logged_in(agent).post(f"/handoffs/{pending.pk}/assign/")

    assert response.status_code == 302
    assert response["Location"] == f"/handoffs/{pending.pk}/"


def test_an_offline_agent_cannot_assign(offline_agent, pending):
    response = logged_in(offline_agent).post(f"/handoffs/{pending.pk}/assign/", **HTMX)

    assert response.status_code == 403
    assert response["HX-Retarget"] == "#flash"
    assert "Go online to do this." in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == Status.PENDING


def test_the_loser_of_the_assign_race_is_told_who_won(agent, second_agent, pending):
    logged_in(agent).post(f"/handoffs/{pending.pk}/assign/", **HTMX)

    response = logged_in(second_agent).post(f"/handoffs/{pending.pk}/assign/", **HTMX)

    html = response.content.decode()
    assert response.status_code == 409
    assert (response["HX-Retarget"], response["HX-Reswap"]) == ("#flash", "innerHTML")
    assert f"Alice Martin already took handoff #{pending.pk}." in html
    # The panel's head is refreshed out of band: the loser sees the winner as assignee.
    assert f'<header id="handoff-{pending.pk}-head" hx-swap-oob="true"' in html
    assert 'data-name="Alice Martin"' in html


def test_refusal_without_htmx_is_the_page_with_the_message(second_agent, assigned):
    response = logged_in(second_agent).post(f"/handoffs/{assigned.pk}/resolve/")

    assert response.status_code == 403
    assert "is not assigned to you" in response.content.decode()


def test_the_assignee_sends_a_message(agent, assigned):
    response = logged_in(agent).post(
        f"/handoffs/{assigned.pk}/send/", {"text": "  Hello there  "}, **HTMX
    )

    message = assigned.conversation.messages.get()
    assert (message.direction, message.author, message.text) == ("agent", agent, "Hello there")
    html = response.content.decode()
    assert f'id="conversation-{assigned.conversation_id}-messages" hx-swap-oob="beforeend"' in html
    assert f'id="message-{message.pk}"' in html


def test_send_without_htmx_redirects(agent, assigned):
    response = logged_in(agent).post(f"/handoffs/{assigned.pk}/send/", {"text": "Hi"})

    assert response.status_code == 302


@pytest.mark.parametrize(
    ("text", "message"), [("  ", "Write a message first."), ("a\x00b", "cannot be stored")]
)
def test_an_empty_or_unstorable_message_is_refused(agent, assigned, text, message):
    response = logged_in(agent).post(f"/handoffs/{assigned.pk}/send/", {"text": text}, **HTMX)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert not assigned.conversation.messages.exists()


def test_a_watcher_cannot_write(second_agent, assigned):
    response = logged_in(second_agent).post(
        f"/handoffs/{assigned.pk}/send/", {"text": "Hi"}, **HTMX
    )

    assert response.status_code == 403
    assert "is not assigned to you" in response.content.decode()
    assert not assigned.conversation.messages.exists()


def test_an_offline_assignee_cannot_write_or_resolve(bot, offline_agent):
    handoff = HandoffFactory(conversation__bot=bot, status=Status.ASSIGNED, agent=offline_agent)
    client = logged_in(offline_agent)

    sent = client.post(f"/handoffs/{handoff.pk}/send/", {"text": "Hi"}, **HTMX)
    resolved = client.post(f"/handoffs/{handoff.pk}/resolve/", **HTMX)

    assert (sent.status_code, resolved.status_code) == (403, 403)
    handoff.refresh_from_db()
    assert handoff.status == Status.ASSIGNED
    assert not handoff.conversation.messages.exists()


def test_nobody_writes_to_a_pending_or_resolved_handoff(agent, pending, bot):
    resolved = HandoffFactory(conversation__bot=bot, status=Status.RESOLVED, agent=agent)
    client = logged_in(agent)

    for handoff in (pending, resolved):
        response = client.post(f"/handoffs/{handoff.pk}/send/", {"text": "Hi"}, **HTMX)
        assert response.status_code == 409


def test_the_assignee_resolves(agent, assigned):
    response = logged_in(agent).post(f"/handoffs/{assigned.pk}/resolve/", **HTMX)

    assigned.refresh_from_db()
    assert assigned.status == Status.RESOLVED
    html = response.content.decode()
    assert ">Resolved</span>" in html and "composer-text" not in html


def test_another_agent_cannot_resolve(second_agent, assigned):
    response = logged_in(second_agent).post(f"/handoffs/{assigned.pk}/resolve/", **HTMX)

    assert response.status_code == 403
    assigned.refresh_from_db()
    assert assigned.status == Status.ASSIGNED


def test_resolving_twice_is_a_conflict(agent, assigned):
    client = logged_in(agent)
    client.post(f"/handoffs/{assigned.pk}/resolve/", **HTMX)

    assert client.post(f"/handoffs/{assigned.pk}/resolve/", **HTMX).status_code == 409
