"""The agent workspace in a real browser: a handoff's whole life live, two agents racing for
one, and the worker setting an idle agent offline under their eyes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from e2e.helpers import go_online, log_in

pytestmark = pytest.mark.django_db(transaction=True)


def start_handoff(api, n: int, name: str) -> dict:
    response = api.post(
        "/handoffs",
        json={
            "conversation_id": f"th-{n}",
            "user_id": f"u-{n}",
            "channel": "whatsapp",
            "user": {"fullName": name},
            "history": [{"id": f"h-{n}", "direction": "incoming", "text": "I need a human"}],
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def agent_page(browser: Browser, base_url: str, username: str) -> Page:
    page = browser.new_context().new_page()
    log_in(page, base_url, username)
    go_online(page)
    return page


def open_handoff(page: Page, name: str):
    page.get_by_role("region", name="Handoffs").get_by_role("link").filter(has_text=name).click()
    messages = page.get_by_role("region", name="Messages")
    expect(messages.get_by_role("heading", name=name)).to_be_visible()
    return messages


def test_a_handoff_from_arrival_to_resolution_live(browser: Browser, live_server_url, api, agent):
    page = agent_page(browser, live_server_url, agent.username)
    handoffs = page.get_by_role("region", name="Handoffs")

    handoff = start_handoff(api, 1, "Grace Hopper")

    item = handoffs.get_by_role("link").filter(has_text="Grace Hopper")
    expect(item).to_be_visible()
    expect(item).to_contain_text(f"#{handoff['id']}")
    expect(item).to_contain_text("I need a human")
    messages = open_handoff(page, "Grace Hopper")
    expect(messages.get_by_role("textbox", name="Message")).to_have_count(0)

    messages.get_by_role("button", name="Assign to me").click()

    composer = messages.get_by_role("textbox", name="Message")
    expect(composer).to_be_visible()
    expect(messages.get_by_text("Assignee: You")).to_be_visible()
    assert api.get(f"/handoffs/{handoff['id']}").json()["status"] == "assigned"

    # Enter sends; Shift+Enter is a new line inside the message.
    composer.fill("Hello Grace,")
    composer.press("Shift+Enter")
    composer.press_sequentially("how can I help?")
    composer.press("Enter")
    expect(messages.get_by_role("article").filter(has_text="how can I help?")).to_be_visible()
    expect(composer).to_have_value("")

    # The user answers through the bot: it appears without a reload, in the list too.
    relayed = api.post(
        "/messages",
        json={
            "conversation_id": "th-1",
            "user_id": "u-1",
            "channel": "whatsapp",
            "id": "m-2",
            "direction": "incoming",
            "text": "My printer is on fire",
        },
    )
    assert relayed.status_code == 201
    expect(messages.get_by_role("article").filter(has_text="My printer is on fire")).to_be_visible()
    expect(item).to_contain_text("My printer is on fire")

    # Messages sent with "Send" work as well as with Enter.
    composer.fill("Unplug it, please.")
    messages.get_by_role("button", name="Send").click()
    expect(messages.get_by_role("article").filter(has_text="Unplug it, please.")).to_be_visible()

    messages.get_by_role("button", name="Resolve").click()

    expect(messages.get_by_text("Resolved", exact=True)).to_be_visible()
    expect(messages.get_by_role("textbox", name="Message")).to_have_count(0)
    expect(item).to_have_count(0)  # no longer Unassigned nor Assigned to me
    assert api.get(f"/handoffs/{handoff['id']}").json()["status"] == "resolved"


def test_two_agents_race_for_a_handoff(browser: Browser, live_server_url, api, agent, second_agent):
    from handoffs.models import Handoff

    alice = agent_page(browser, live_server_url, agent.username)
    bob = agent_page(browser, live_server_url, second_agent.username)
    handoff = start_handoff(api, 2, "Ada Lovelace")
    panels = {
        "alice": open_handoff(alice, "Ada Lovelace"),
        "bob": open_handoff(bob, "Ada Lovelace"),
    }
    buttons = {
        who: panel.get_by_role("button", name="Assign to me") for who, panel in panels.items()
    }
    for button in buttons.values():
        expect(button).to_be_visible()

    # Both clicks are dispatched before either answer can arrive.
    buttons["alice"].evaluate("button => button.click()")
    buttons["bob"].evaluate("button => button.click()")

    expect(panels["alice"].get_by_text("Assignee:")).to_be_visible()
    expect(panels["bob"].get_by_text("Assignee:")).to_be_visible()
    winner = Handoff.objects.select_related("agent").get(pk=handoff["id"]).agent
    assert winner is not None
    winner_name = f"{winner.first_name} {winner.last_name}"
    won, lost = ("alice", "bob") if winner.pk == agent.pk else ("bob", "alice")

    expect(panels[won].get_by_role("textbox", name="Message")).to_be_visible()
    expect(panels[lost].get_by_role("textbox", name="Message")).to_have_count(0)
    expect(panels[lost].get_by_role("button", name="Assign to me")).to_have_count(0)
    expect(
        panels[lost].get_by_text(f"{winner_name} is answering; you are watching.")
    ).to_be_visible()


def test_an_idle_agent_is_set_offline_live(browser: Browser, live_server_url, agent, second_agent):
    from agents.models import AgentProfile

    alice = agent_page(browser, live_server_url, agent.username)
    bob = agent_page(browser, live_server_url, second_agent.username)
    online_list = bob.get_by_role("list", name="Online agents")
    expect(online_list.get_by_text("Alice Martin")).to_be_attached()

    # Alice's inactivity deadline passes: the worker inside the server sets her offline.
    AgentProfile.objects.filter(user=agent).update(
        session_expires_at=timezone.now() - timedelta(seconds=1)
    )

    expect(alice.get_by_role("switch", name="Online")).to_have_attribute("aria-checked", "false")
    expect(online_list.get_by_text("Alice Martin")).to_have_count(0)
    assert not AgentProfile.objects.get(user=agent).online
