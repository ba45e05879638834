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


def test_an_answer_arriving_after_its_push_adds_nothing(
    browser: Browser, live_server_url, api, agent
):
    """The other order: the socket's push shows the message (or note) first, the HTTP answer
    comes second and must not add it again."""
    page = agent_page(browser, live_server_url, agent.username)
    start_handoff(api, 2, "Mary Jackson")
    messages = open_handoff(page, "Mary Jackson")
    messages.get_by_role("button", name="Assign to me").click()
    composer = messages.get_by_role("textbox", name="Message")
    note_box = page.get_by_role("textbox", name="Add a note")
    expect(composer).to_be_visible()
    held: list = []  # (route, the server's answer), fulfilled once the push was shown

    def hold(route):
        held.append((route, route.fetch()))

    page.route("**/send/", hold)
    page.route("**/notes/", hold)
    cases = [
        (composer, "Pushed first", messages.get_by_role("article")),
        (note_box, "Noted first", page.locator(".note")),
    ]
    for box, text, shown in cases:
        box.fill(text)
        box.press("Enter")
        item = shown.filter(has_text=text)
        expect(item).to_have_count(1)  # from the push: the answer is still held
        while not held:
            page.wait_for_timeout(20)
        route, answer = held.pop()
        route.fulfill(response=answer)
        expect(box).to_have_value("")  # the answer was handled
        expect(item).to_have_count(1)
