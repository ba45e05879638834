"""The agent workspace in a real browser: a handoff's whole life live, two agents racing for
one, and the worker setting an idle agent offline under their eyes."""

from __future__ import annotations

import json
import re
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
    sent = []  # what the page tells its socket
    page = browser.new_context().new_page()
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    log_in(page, live_server_url, agent.username)
    go_online(page)
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
    actions = [json.loads(frame).get("action") for frame in sent]
    assert actions[0] == "hello"
    assert {"watch", "activity", "read"} <= set(actions)  # clicks and typing kept her online
    assert actions.count("activity") == 1  # throttled: one ping per 30 s


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

    # Hold both requests until both are sent, then release them together: both reach the
    # server before either answer (or its live push) can reach the other page.
    held = []
    for page in (alice, bob):
        page.route("**/assign/", lambda route: held.append(route))
    buttons["alice"].click()
    buttons["bob"].click()
    while len(held) < 2:
        alice.wait_for_timeout(20)
    for route in held:
        route.continue_()

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
    loser_page = {"alice": alice, "bob": bob}[lost]
    expect(loser_page.get_by_role("status")).to_contain_text(
        f"{winner_name} already took handoff #{handoff['id']}."
    )


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


HIDDEN_TAB = """
window.__hidden = false;
Object.defineProperty(document, "hidden", {configurable: true, get: () => window.__hidden});
window.__played = [];
HTMLMediaElement.prototype.play = function () {
  window.__played.push(this.src);
  return Promise.resolve();
};
"""


def test_a_new_handoff_in_a_hidden_tab_chimes_and_blinks_the_title(
    browser: Browser, live_server_url, api, agent
):
    page = browser.new_context().new_page()
    page.add_init_script(HIDDEN_TAB)
    log_in(page, live_server_url, agent.username)
    go_online(page)
    title = page.title()
    page.evaluate("window.__hidden = true")

    start_handoff(api, 3, "Alan Turing")

    expect(page).to_have_title(re.compile(r"^\(1\) New handoff$"))
    played = page.evaluate("window.__played")
    assert len(played) == 1 and played[0].endswith("/static/hitlnext/sounds/new-handoff.wav")
    sound = page.request.get(played[0])
    assert sound.ok and sound.body()[:4] == b"RIFF"

    page.evaluate("window.__hidden = false; document.dispatchEvent(new Event('visibilitychange'))")
    expect(page).to_have_title(title)


def test_older_messages_load_when_scrolling_up(browser: Browser, live_server_url, api, agent):
    history = [
        {"id": f"old-{i}", "direction": "incoming" if i % 2 else "outgoing", "text": f"line {i}"}
        for i in range(25)
    ]
    api.post(
        "/handoffs",
        json={"conversation_id": "th-4", "user_id": "u-4", "channel": "web", "history": history},
    )
    page = browser.new_context(viewport={"width": 1200, "height": 500}).new_page()
    log_in(page, live_server_url, agent.username)
    messages = open_handoff(page, "Anonymous User")
    log = messages.get_by_role("log")
    articles = log.get_by_role("article")
    expect(articles).to_have_count(10)  # HITLNEXT_MESSAGE_COUNT, the newest ones
    expect(articles.last).to_contain_text("You are being transferred")

    log.evaluate("el => { el.scrollTop = 0; }")
    expect(articles).to_have_count(20)
    log.evaluate("el => { el.scrollTop = 0; }")
    expect(articles).to_have_count(26)
    expect(articles.first).to_contain_text("line 0")
    expect(messages.get_by_role("button", name="Load earlier messages")).to_have_count(0)


def test_a_new_avatar_shows_in_other_agents_headers_live(
    browser: Browser, live_server_url, agent, second_agent
):
    import io

    from PIL import Image

    alice = agent_page(browser, live_server_url, agent.username)
    bob = agent_page(browser, live_server_url, second_agent.username)
    alice.get_by_role("link", name="Profile").click()
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (30, 120, 200)).save(buffer, format="PNG")

    alice.get_by_label("First name").fill("Alicia")
    alice.get_by_label("Avatar", exact=True).set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": buffer.getvalue()}
    )
    alice.get_by_role("button", name="Save").click()

    expect(alice.get_by_text("Profile saved.")).to_be_visible()
    online = bob.get_by_role("list", name="Online agents")
    expect(online.get_by_role("listitem", name="Alicia Martin").locator("img")).to_be_visible()

    alice.get_by_label("Avatar", exact=True).set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": b"not an image"}
    )
    alice.get_by_role("button", name="Save").click()
    expect(alice.get_by_role("alert")).to_contain_text("Upload a valid image")


def test_taking_a_handoff_in_one_tab_opens_the_composer_in_the_other(
    browser: Browser, live_server_url, api, agent
):
    first = agent_page(browser, live_server_url, agent.username)
    second = first.context.new_page()
    second.goto(live_server_url + "/")
    start_handoff(api, 5, "Katherine Johnson")
    panels = [open_handoff(page, "Katherine Johnson") for page in (first, second)]

    panels[0].get_by_role("button", name="Assign to me").click()

    for panel in panels:
        expect(panel.get_by_role("textbox", name="Message")).to_be_visible()
        expect(panel.get_by_role("button", name="Resolve")).to_be_visible()
