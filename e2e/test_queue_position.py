"""The user's place in line, in real browsers: a web chat visitor waiting behind a bot's
handoff sees their position move up live when an agent takes the one ahead, and the agent's
inbox renumbers its pending items the same way."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from e2e.helpers import go_online, log_in
from e2e.test_webchat import PHONE, visitor_says

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_visitor_and_the_inbox_see_the_queue_move(
    browser: Browser, live_server_url: str, agent, api
):
    agent_context = browser.new_context()
    inbox = agent_context.new_page()
    log_in(inbox, live_server_url, agent.username)
    go_online(inbox)
    # First in line: a bot's handoff, with the user's last words.
    response = api.post(
        "/handoffs",
        json={
            "conversation_id": "th-ahead",
            "user_id": "u-ahead",
            "channel": "whatsapp",
            "history": [{"id": "m1", "direction": "incoming", "text": "I was here first"}],
        },
    )
    assert response.status_code == 201

    visitor_context = browser.new_context(**PHONE)
    visitor = visitor_context.new_page()
    visitor.goto(f"{live_server_url}/chat/")
    visitor_says(visitor, "Where is my parcel?")
    expect(visitor.get_by_text("I'm the hitlnext demo bot.", exact=False)).to_be_visible()
    visitor.get_by_role("button", name="Talk to a person").click()
    expect(visitor.get_by_text("You are number 2 in line.")).to_be_visible()

    handoffs = inbox.get_by_role("region", name="Handoffs")
    ahead = handoffs.get_by_role("link").filter(has_text="I was here first")
    behind = handoffs.get_by_role("link").filter(has_text="Where is my parcel?")
    expect(ahead).to_contain_text("#1 in queue")
    expect(behind).to_contain_text("#2 in queue")
    # A message while waiting updates the item's preview; its place stays shown.
    visitor_says(visitor, "Still waiting")
    behind = handoffs.get_by_role("link").filter(has_text="Still waiting")
    expect(behind).to_contain_text("#2 in queue")

    ahead.click()
    inbox.get_by_role("region", name="Messages").get_by_role("button", name="Assign to me").click()

    # Live, without a reload: the visitor moves up, and so does their inbox item.
    expect(visitor.get_by_text("You are next in line.")).to_be_visible()
    expect(behind).to_contain_text("#1 in queue")
    expect(ahead).not_to_contain_text("in queue")
    visitor_context.close()
    agent_context.close()
