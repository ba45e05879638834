"""The agent's load in the header, live: "Assign to me" and "Resolve" change it without a
reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from e2e.test_workspace import agent_page, open_handoff, start_handoff

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_header_load_follows_assign_and_resolve_live(
    browser: Browser, live_server_url, api, agent
):
    page = agent_page(browser, live_server_url, agent.username)
    load = page.get_by_role("banner").get_by_role("group", name="Open handoffs")
    expect(load).to_have_text("0 / 3")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    start_handoff(api, 1, "Grace Hopper")
    messages = open_handoff(page, "Grace Hopper")

    messages.get_by_role("button", name="Assign to me").click()

    expect(load).to_have_text("1 / 3")

    messages.get_by_role("button", name="Resolve").click()

    expect(load).to_have_text("0 / 3")
    assert page.evaluate("window.sameDocument") is True
