"""The agent's own message and note reach the page twice (the HTTP answer and the socket's
push, in either order); the page shows each once."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from e2e.test_workspace import agent_page, open_handoff, start_handoff

pytestmark = pytest.mark.django_db(transaction=True)

REPLAY = """([container, html]) => htmx.swap(document.body,
    `<div id="${container}" hx-swap-oob="beforeend">${html}</div>`, {swapStyle: "none"})"""


def test_a_message_or_note_delivered_twice_is_shown_once(
    browser: Browser, live_server_url, api, agent
):
    page = agent_page(browser, live_server_url, agent.username)
    handoff = start_handoff(api, 1, "Ada Byron")
    messages = open_handoff(page, "Ada Byron")
    messages.get_by_role("button", name="Assign to me").click()
    composer = messages.get_by_role("textbox", name="Message")
    composer.fill("Only once, please")
    composer.press("Enter")
    sent = messages.get_by_role("article").filter(has_text="Only once, please")
    expect(sent).to_have_count(1)
    note_box = page.get_by_role("textbox", name="Add a note")
    note_box.fill("A single note")
    note_box.press("Enter")
    note = page.locator(".note").filter(has_text="A single note")
    expect(note).to_have_count(1)

    conversation_id = page.locator("[id^=conversation-][id$=-messages]").get_attribute("id")
    # The late twin of each, as the socket would push it after the HTTP answer.
    page.evaluate(REPLAY, [conversation_id, sent.evaluate("el => el.outerHTML")])
    notes_id = conversation_id.replace("-messages", "-notes")
    page.evaluate(REPLAY, [notes_id, note.evaluate("el => el.outerHTML")])

    expect(sent).to_have_count(1)
    expect(note).to_have_count(1)
    assert handoff["status"] == "pending"
