"""The "Enter sends" rule in a real browser, one for both of the agent's text boxes: the message
composer and the note box. Enter submits, Shift+Enter adds a line, a blank box sends nothing,
and the box is emptied only once the server accepted what was sent."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from e2e.test_workspace import agent_page, open_handoff, start_handoff

pytestmark = pytest.mark.django_db(transaction=True)


def posts_to(page: Page, path_end: str) -> list[str]:
    """The URLs of the page's POST requests ending with path_end, as they happen."""
    seen: list[str] = []
    page.on(
        "request",
        lambda r: seen.append(r.url) if r.method == "POST" and r.url.endswith(path_end) else None,
    )
    return seen


def check_enter_sends(page: Page, box: Locator, posted: list[str], shown_in: Locator) -> None:
    box.fill("   ")
    box.press("Enter")  # a blank box: nothing goes out, the key adds nothing either
    expect(box).to_have_value("   ")

    box.fill("First line,")
    box.press("Shift+Enter")
    box.press_sequentially("second line.")
    expect(box).to_have_value("First line,\nsecond line.")
    page.wait_for_timeout(300)  # time for a request Shift+Enter must not have made
    assert posted == []

    box.press("Enter")
    sent = shown_in.filter(has_text="First line,")
    expect(sent).to_have_count(1)
    expect(sent).to_contain_text("second line.")
    expect(sent.locator("br")).to_have_count(1)  # one item with a line break, not two items
    expect(box).to_have_value("")
    assert len(posted) == 1


def test_enter_sends_and_shift_enter_adds_a_line_in_the_composer_and_the_note_box(
    browser: Browser, live_server_url, api, agent
):
    page = agent_page(browser, live_server_url, agent.username)
    start_handoff(api, 1, "Hedy Lamarr")
    messages = open_handoff(page, "Hedy Lamarr")
    messages.get_by_role("button", name="Assign to me").click()
    contact = page.get_by_role("region", name="Contact details")

    check_enter_sends(
        page,
        messages.get_by_role("textbox", name="Message"),
        posts_to(page, "/send/"),
        messages.get_by_role("article"),
    )
    check_enter_sends(
        page,
        contact.get_by_role("textbox", name="Add a note"),
        posts_to(page, "/notes/"),
        contact.get_by_role("listitem"),
    )


def test_a_refused_message_or_note_keeps_its_draft(browser: Browser, live_server_url, api, agent):
    from agents.models import AgentProfile

    page = agent_page(browser, live_server_url, agent.username)
    start_handoff(api, 2, "Radia Perlman")
    messages = open_handoff(page, "Radia Perlman")
    messages.get_by_role("button", name="Assign to me").click()
    composer = messages.get_by_role("textbox", name="Message")
    note_box = page.get_by_role("textbox", name="Add a note")
    expect(composer).to_be_visible()
    # Offline behind the page's back (no push): the server refuses with 403 and a flash.
    AgentProfile.objects.filter(user=agent).update(online=False)

    for box in (composer, note_box):
        box.fill("A draft worth keeping")
        box.press("Enter")
        expect(page.get_by_role("status")).to_contain_text("Go online to do this.")
        expect(box).to_have_value("A draft worth keeping")
        page.get_by_role("button", name="Dismiss").click()
    expect(messages.get_by_role("article").filter(has_text="A draft worth")).to_have_count(0)
    expect(page.locator(".note").filter(has_text="A draft worth")).to_have_count(0)
