"""CSAT in a real browser: once the agent resolves, the visitor is asked how it was, rates with
the keyboard-reachable form and is thanked, and the agent's open conversation shows the
rating (stars, score, the comment as text) without a reload. A visitor may also skip it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from e2e.helpers import go_online, log_in

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True}
COMMENT = "Quick <b>and</b> kind, thanks!"


def handed_off_to(visitor: Page, inbox: Page, base_url: str, text: str) -> Page:
    """The visitor asks for a person; the agent (online in the inbox) opens and takes it."""
    visitor.goto(f"{base_url}/chat/")
    visitor.get_by_role("textbox", name="Message", exact=True).fill(text)
    visitor.get_by_role("button", name="Send").click()
    expect(visitor.get_by_text("I'm the hitlnext demo bot.", exact=False)).to_be_visible()
    visitor.get_by_role("button", name="Talk to a person").click()
    expect(visitor.get_by_text("Waiting for a person to join")).to_be_visible()
    item = inbox.get_by_role("region", name="Handoffs").get_by_role("link").filter(has_text=text)
    item.click()
    messages = inbox.get_by_role("region", name="Messages")
    messages.get_by_role("button", name="Assign to me").click()
    expect(visitor.get_by_text("You are talking with")).to_be_visible()
    return messages


def test_the_visitor_rates_after_the_resolve_and_the_agent_sees_it_live(
    browser: Browser, live_server_url: str, agent
):
    visitor_context = browser.new_context(**PHONE)
    agent_context = browser.new_context()
    visitor = visitor_context.new_page()
    inbox = agent_context.new_page()
    log_in(inbox, live_server_url, agent.username)
    go_online(inbox)
    messages = handed_off_to(visitor, inbox, live_server_url, "Where is my parcel?")
    rating_region = visitor.get_by_role("region", name="Rating")
    expect(rating_region).to_be_hidden()

    messages.get_by_role("button", name="Resolve").click()

    scores = visitor.get_by_role("radiogroup", name="How was your conversation?")
    expect(scores).to_be_visible()
    expect(scores.get_by_role("radio")).to_have_count(5)
    scores.get_by_role("radio", name="4 Good").check()
    visitor.get_by_role("textbox", name="Comment").fill(COMMENT)
    visitor.get_by_role("button", name="Send rating").click()

    expect(visitor.get_by_text("Thank you for your rating!")).to_be_visible()
    expect(scores).to_have_count(0)
    contact = inbox.get_by_role("region", name="Contact details")
    ratings = contact.locator(".contact-ratings")
    expect(ratings).to_be_visible()
    expect(ratings).to_contain_text("4 / 5")
    expect(ratings).to_contain_text("★★★★☆")
    expect(ratings.get_by_text(COMMENT)).to_be_visible()  # shown as text, never as markup
    expect(ratings.locator("b")).to_have_count(0)
    # Nothing on the phone scrolls sideways with the form on it.
    assert visitor.evaluate("document.documentElement.scrollWidth") <= 375
    visitor_context.close()
    agent_context.close()


def test_the_visitor_may_skip_the_question_and_it_stays_away(
    browser: Browser, live_server_url: str, agent
):
    visitor_context = browser.new_context(**PHONE)
    agent_context = browser.new_context()
    visitor = visitor_context.new_page()
    inbox = agent_context.new_page()
    log_in(inbox, live_server_url, agent.username)
    go_online(inbox)
    messages = handed_off_to(visitor, inbox, live_server_url, "Can I change my order?")
    messages.get_by_role("button", name="Resolve").click()
    question = visitor.get_by_role("radiogroup", name="How was your conversation?")
    expect(question).to_be_visible()

    visitor.get_by_role("button", name="Skip").click()

    expect(question).to_be_hidden()
    expect(visitor.get_by_role("textbox", name="Message", exact=True)).to_be_focused()
    visitor.reload()
    # Once the socket's catch-up (which renders the question again) has surely arrived:
    visitor.get_by_role("textbox", name="Message", exact=True).fill("Back to the bot")
    visitor.get_by_role("button", name="Send").click()
    expect(visitor.get_by_text("I'm the hitlnext demo bot.", exact=False)).to_have_count(2)
    expect(question).to_be_hidden()
    visitor_context.close()
    agent_context.close()
