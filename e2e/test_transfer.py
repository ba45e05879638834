"""Transfer in a real browser: Alice hands her conversation to Bob, who is watching it, and Bob
puts it back in the queue; both pages follow without a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from e2e.test_workspace import agent_page, open_handoff, start_handoff

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_transfer_and_back_to_the_queue_live_on_both_pages(
    browser: Browser, live_server_url, api, agent, second_agent
):
    alice = agent_page(browser, live_server_url, agent.username)
    bob = agent_page(browser, live_server_url, second_agent.username)
    handoff = start_handoff(api, 1, "Ada Lovelace")

    at_alice = open_handoff(alice, "Ada Lovelace")
    at_alice.get_by_role("button", name="Assign to me").click()
    expect(at_alice.get_by_role("textbox", name="Message")).to_be_visible()
    # Bob's default view (Unassigned, Assigned to me) no longer lists it: he opens its address.
    bob.goto(f"{live_server_url}/handoffs/{handoff['id']}/")
    at_bob = bob.get_by_role("region", name="Messages")
    expect(at_bob.get_by_text("Alice Martin is answering; you are watching.")).to_be_visible()
    expect(at_bob.get_by_role("textbox", name="Message")).to_have_count(0)
    expect(at_bob.get_by_role("button", name="Transfer")).to_have_count(0)

    at_alice.get_by_role("button", name="Transfer").click()
    dialog = alice.get_by_role("dialog", name="Transfer handoff")
    expect(dialog).to_be_visible()
    choice = dialog.get_by_role("button", name="Bob Stone")
    expect(choice).to_contain_text("0 / 3")
    choice.click()

    # Alice: watching now, her load back to 0.
    expect(dialog).to_have_count(0)
    expect(at_alice.get_by_text("Bob Stone is answering; you are watching.")).to_be_visible()
    expect(at_alice.get_by_role("textbox", name="Message")).to_have_count(0)
    expect(at_alice.get_by_role("button", name="Transfer")).to_have_count(0)
    expect(alice.get_by_role("group", name="Open handoffs")).to_have_text("0 / 3")
    # Bob, without a reload: told, given the composer and the actions, his load up by one.
    expect(bob.get_by_role("status")).to_contain_text("Alice Martin transferred")
    composer = at_bob.get_by_role("textbox", name="Message")
    expect(composer).to_be_visible()
    expect(at_bob.get_by_role("button", name="Resolve")).to_be_visible()
    expect(bob.get_by_role("group", name="Open handoffs")).to_have_text("1 / 3")
    # The user was told who answers now; both pages show it.
    for panel in (at_alice, at_bob):
        log = panel.get_by_role("log", name="Conversation")
        expect(log).to_contain_text("You have been assigned to our agent Bob Stone.")
    composer.fill("Bob here, I have your file.")
    composer.press("Enter")
    expect(at_alice.get_by_role("log", name="Conversation")).to_contain_text("Bob here")

    at_bob.get_by_role("button", name="Transfer").click()
    bob.get_by_role("dialog", name="Transfer handoff").get_by_role(
        "button", name="Back to queue"
    ).click()

    for panel in (at_alice, at_bob):
        expect(panel.get_by_role("button", name="Assign to me")).to_be_visible()
        expect(panel.get_by_role("textbox", name="Message")).to_have_count(0)
    expect(bob.get_by_role("group", name="Open handoffs")).to_have_text("0 / 3")


def test_cancel_closes_the_dialog_and_changes_nothing(
    browser: Browser, live_server_url, api, agent, second_agent
):
    alice = agent_page(browser, live_server_url, agent.username)
    agent_page(browser, live_server_url, second_agent.username)
    start_handoff(api, 2, "Alan Turing")
    at_alice = open_handoff(alice, "Alan Turing")
    at_alice.get_by_role("button", name="Assign to me").click()
    expect(at_alice.get_by_role("textbox", name="Message")).to_be_visible()

    at_alice.get_by_role("button", name="Transfer").click()
    dialog = alice.get_by_role("dialog", name="Transfer handoff")
    expect(dialog.get_by_role("button", name="Bob Stone")).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()

    expect(dialog).to_have_count(0)
    expect(at_alice.get_by_role("textbox", name="Message")).to_be_visible()
    expect(alice.get_by_role("group", name="Open handoffs")).to_have_text("1 / 3")
