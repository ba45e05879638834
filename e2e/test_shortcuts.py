"""Keyboard shortcuts in a real browser: move through the inbox, assign, reply, resolve and the
help sheet from the keyboard, and nothing fires while the agent types."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from e2e.test_workspace import agent_page, start_handoff

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_agents_day_from_the_keyboard(browser: Browser, live_server_url, api, agent):
    first, second = start_handoff(api, 1, "Ada Lovelace"), start_handoff(api, 2, "Alan Turing")
    page = agent_page(browser, live_server_url, agent.username)
    handoffs = page.get_by_role("region", name="Handoffs")
    expect(handoffs.get_by_role("link")).to_have_count(2)
    messages = page.get_by_role("region", name="Messages")
    order = [handoffs.get_by_role("link").nth(i).get_attribute("href") or "" for i in range(2)]
    names = {
        f"/handoffs/{first['id']}/": "Ada Lovelace",
        f"/handoffs/{second['id']}/": "Alan Turing",
    }

    page.keyboard.press("j")
    expect(messages.get_by_role("heading", name=names[order[0]])).to_be_visible()
    page.keyboard.press("j")
    expect(messages.get_by_role("heading", name=names[order[1]])).to_be_visible()
    page.keyboard.press("k")
    expect(messages.get_by_role("heading", name=names[order[0]])).to_be_visible()

    page.keyboard.press("a")
    composer = messages.get_by_role("textbox", name="Message")
    expect(composer).to_be_visible()

    # r: reply. In the message box, letters are text, not shortcuts.
    page.keyboard.press("r")
    expect(composer).to_be_focused()
    page.keyboard.type("just a kind word")
    expect(composer).to_have_value("just a kind word")
    expect(messages.get_by_role("heading", name=names[order[0]])).to_be_visible()
    expect(page).to_have_url(f"{live_server_url}{order[0]}")
    page.keyboard.press("Escape")
    expect(composer).not_to_be_focused()

    page.keyboard.press("?")
    help_sheet = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_sheet).to_be_visible()
    expect(help_sheet.get_by_role("table")).to_contain_text("Next handoff in the list")
    page.keyboard.press("j")  # a dialog is open: nothing moves
    expect(messages.get_by_role("heading", name=names[order[0]])).to_be_visible()
    page.keyboard.press("Escape")
    expect(help_sheet).to_be_hidden()

    page.keyboard.press("e")
    expect(messages.get_by_text("Resolved", exact=True)).to_be_visible()


def test_the_help_button_opens_the_sheet(browser: Browser, live_server_url, agent):
    page = agent_page(browser, live_server_url, agent.username)

    page.get_by_role("button", name="Keyboard shortcuts").click()

    sheet = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(sheet).to_be_visible()
    sheet.get_by_role("button", name="Close").click()
    expect(sheet).to_be_hidden()
