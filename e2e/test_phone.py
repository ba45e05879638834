"""A phone-sized screen (390 × 844): the inbox, a conversation and its contact details are
usable — nothing wider than the screen, one pane at a time, every control reachable."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Browser, Page, expect

from e2e.helpers import go_online, log_in
from e2e.test_workspace import start_handoff

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}


def fits_the_screen(page: Page) -> None:
    """No sideways scrolling, and no visible control cut off at the right edge."""
    overflow = page.evaluate(
        """() => {
        const wide = document.documentElement.scrollWidth - window.innerWidth;
        const cut = Array.from(document.querySelectorAll('button, a, input, textarea, select'))
          .filter((el) => el.getClientRects().length)
          .filter((el) => getComputedStyle(el).visibility !== 'hidden')
          .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
          .map((el) => el.outerHTML.slice(0, 80));
        return {wide, cut};
    }"""
    )
    assert overflow["wide"] <= 0, overflow
    assert overflow["cut"] == [], overflow


def within_reach(page: Page, locator) -> None:
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1, box


def snap(page: Page, name: str) -> None:
    # Screenshots for a person to look at, when asked for (E2E_SCREENSHOTS=dir).
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"phone-{name}.png"), full_page=True)


def test_a_conversation_on_a_phone(browser: Browser, live_server_url, api, agent):
    start_handoff(api, 1, "Ada Lovelace")
    page = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    log_in(page, live_server_url, agent.username)
    go_online(page)
    handoffs = page.get_by_role("region", name="Handoffs")

    item = handoffs.get_by_role("link").filter(has_text="Ada Lovelace")
    expect(item).to_be_visible()
    fits_the_screen(page)
    snap(page, "inbox")

    item.tap()
    messages = page.get_by_role("region", name="Messages")
    expect(messages.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    expect(handoffs).to_be_hidden()  # one pane at a time
    assign = messages.get_by_role("button", name="Assign to me")
    within_reach(page, assign)
    assign.tap()
    composer = messages.get_by_role("textbox", name="Message")
    expect(composer).to_be_visible()
    within_reach(page, composer)
    within_reach(page, messages.get_by_role("button", name="Send"))
    within_reach(page, messages.get_by_role("button", name="Resolve"))
    fits_the_screen(page)
    snap(page, "conversation")

    composer.fill("Hello from my phone")
    messages.get_by_role("button", name="Send").tap()
    expect(messages.get_by_role("log", name="Conversation")).to_contain_text("Hello from my phone")

    contact = page.get_by_role("region", name="Contact details")
    note = contact.get_by_role("textbox", name="Add a note")
    within_reach(page, note)
    note.fill("Prefers French")
    note.press("Enter")
    expect(contact).to_contain_text("Prefers French")
    fits_the_screen(page)
    snap(page, "contact")

    back = messages.get_by_role("link", name="Inbox")
    within_reach(page, back)
    back.tap()
    expect(handoffs).to_be_visible()
    fits_the_screen(page)
