"""Search in a real browser: an agent types in the header's search box, sees the hit with its
match highlighted (and the user's markup shown as text), and opens the conversation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from e2e.helpers import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_agent_searches_sees_the_highlighted_hit_and_opens_it(
    browser: Browser, live_server_url, bot, agent
):
    from conversations.models import Message
    from tests.factories import (
        ConversationFactory,
        EndUserFactory,
        HandoffFactory,
        MessageFactory,
    )

    user = EndUserFactory(bot=bot, variables={"fullName": "Grace Hopper"})
    conversation = ConversationFactory(bot=bot, end_user=user, channel="whatsapp")
    handoff = HandoffFactory(conversation=conversation)
    MessageFactory(
        conversation=conversation,
        handoff=handoff,
        direction=Message.Direction.INCOMING,
        text="<b>Urgent</b>: my parcel tracking number is broken",
    )
    other = HandoffFactory(conversation__bot=bot, conversation__end_user__bot=bot)
    MessageFactory(conversation=other.conversation, text="nothing to see here")
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    log_in(page, live_server_url, agent.username)

    box = page.get_by_role("search").get_by_role("searchbox", name="Search handoffs")
    box.fill("parcel tracking")
    box.press("Enter")

    expect(page).to_have_url(re.compile(r"/search/\?q=parcel\+tracking$"))
    search = page.get_by_role("region", name="Search")
    hits = search.get_by_role("listitem")
    expect(hits).to_have_count(1)
    hit = hits.first
    expect(hit).to_contain_text("Grace Hopper")
    expect(hit).to_contain_text(f"#{handoff.pk}")
    expect(hit).to_contain_text("Pending")
    expect(hit).to_contain_text("whatsapp")
    expect(hit.locator("mark")).to_have_text(["parcel", "tracking"])
    # The user's markup is text, not HTML.
    expect(hit).to_contain_text("<b>Urgent</b>: my parcel")
    expect(hit.locator("b")).to_have_count(0)
    expect(page.get_by_role("link", name="Search", exact=True)).to_have_attribute(
        "aria-current", "page"
    )

    hit.get_by_role("link").click()

    expect(page).to_have_url(re.compile(rf"/handoffs/{handoff.pk}/$"))
    messages = page.get_by_role("region", name="Messages")
    expect(messages).to_contain_text("my parcel tracking number is broken")
    assert dialogs == []


def test_too_long_and_empty_queries_explain_themselves(browser: Browser, live_server_url, agent):
    page = browser.new_page()
    log_in(page, live_server_url, agent.username)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Search").click()

    search = page.get_by_role("region", name="Search")
    expect(search).to_contain_text("Type a user's name, email")
    page.goto(f"{live_server_url}/search/?q={'x' * 201}")
    expect(page.get_by_role("alert")).to_contain_text("Search for at most 200 characters")
