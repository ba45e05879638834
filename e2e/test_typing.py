"""Typing ("typing…") both ways in a real browser: a web chat visitor and the agent answering
them (two browser contexts), each seeing the other type; never stored, gone a few seconds
after the last keystroke or when the message arrives."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from conversations.models import Message
from e2e.helpers import go_online, log_in

pytestmark = pytest.mark.django_db(transaction=True)


def visitor_says(page: Page, text: str) -> None:
    page.get_by_role("textbox", name="Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()


def test_visitor_and_agent_see_each_other_typing(browser: Browser, live_server_url: str, agent):
    visitor_context, agent_context = browser.new_context(), browser.new_context()
    visitor, inbox = visitor_context.new_page(), agent_context.new_page()
    log_in(inbox, live_server_url, agent.username)
    go_online(inbox)
    visitor.goto(f"{live_server_url}/chat/")
    visitor_says(visitor, "Where is my parcel?")
    visitor.get_by_role("button", name="Talk to a person").click()
    inbox.get_by_role("region", name="Handoffs").get_by_role("link").filter(
        has_text="Where is my parcel?"
    ).click()
    messages = inbox.get_by_role("region", name="Messages")
    messages.get_by_role("button", name="Assign to me").click()
    expect(visitor.get_by_text("You are talking with")).to_be_visible()
    composer = messages.get_by_role("textbox", name="Message", exact=True)
    expect(composer).to_be_visible()
    agent_typing = messages.get_by_text("typing…", exact=True)
    visitor_typing = visitor.get_by_text("typing…", exact=True)
    expect(agent_typing).to_be_hidden()
    expect(visitor_typing).to_be_hidden()
    stored = Message.objects.count()

    # The visitor types: the agent sees it, until the message arrives.
    visitor_box = visitor.get_by_role("textbox", name="Message", exact=True)
    visitor_box.press_sequentially("It was due on Monday", delay=150)
    expect(agent_typing).to_be_visible()
    visitor.get_by_role("button", name="Send").click()
    expect(messages.get_by_text("It was due on Monday")).to_be_visible()
    expect(agent_typing).to_be_hidden()

    # The agent types: the visitor sees it, and it goes a few seconds after the last keystroke.
    composer.press_sequentially("Let me check", delay=100)
    expect(visitor_typing).to_be_visible()
    expect(visitor_typing).to_be_hidden(timeout=10_000)
    assert Message.objects.count() == stored + 1  # the visitor's message; typing stores nothing

    # Sending hides it at once on the visitor's side.
    composer.press_sequentially(" for you.", delay=50)
    expect(visitor_typing).to_be_visible()
    messages.get_by_role("button", name="Send").click()
    expect(visitor.get_by_text("Let me check for you.")).to_be_visible()
    expect(visitor_typing).to_be_hidden()
    visitor_context.close()
    agent_context.close()
