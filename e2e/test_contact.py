"""The contact details column in a real browser: the message template picker, notes carried
across a conversation's handoffs, the inbox's label filter, and a note appearing live on a
second agent's page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from e2e.helpers import go_online, log_in

pytestmark = pytest.mark.django_db(transaction=True)


def start_handoff(api, n: int, name: str, expected: int = 201) -> dict:
    response = api.post(
        "/handoffs",
        json={
            "conversation_id": f"th-{n}",
            "user_id": f"u-{n}",
            "channel": "web",
            "user": {"fullName": name, "email": f"user{n}@example.com"},
            "history": [{"id": f"h-{n}", "direction": "incoming", "text": f"Help {name}"}],
        },
    )
    assert response.status_code == expected, response.text
    return response.json()


@pytest.fixture
def agent_page(browser: Browser, live_server_url):
    """Log an agent in, online, in a browser context of its own (closed after the test)."""
    contexts = []

    def open_page(username: str) -> Page:
        contexts.append(browser.new_context())
        page = contexts[-1].new_page()
        log_in(page, live_server_url, username)
        go_online(page)
        return page

    yield open_page
    for context in contexts:
        context.close()


def open_handoff(page: Page, handoff: dict):
    page.get_by_role("region", name="Handoffs").get_by_role("link").filter(
        has_text=f"#{handoff['id']}"
    ).click()
    messages = page.get_by_role("region", name="Messages")
    expect(messages.get_by_role("heading", name=f"#{handoff['id']}")).to_be_visible()
    return messages, page.get_by_role("region", name="Contact details")


def wait_until_watching(page: Page, received: list[str], handoff: dict) -> None:
    """The socket answers a page's "watch" with the head, once it has joined the group."""
    head = f'id="handoff-{handoff["id"]}-head"'
    for _ in range(100):
        if any(head in str(frame) for frame in received):
            return
        page.wait_for_timeout(100)
    raise AssertionError("the page never started watching the conversation")


def test_the_template_picker_fills_the_message_box(agent_page, live_server_url, api, agent):
    from tests.factories import MessageTemplateFactory

    MessageTemplateFactory(
        name="greeting", text="Hello {{user.fullName}}, I am {{agent.firstName}}."
    )
    MessageTemplateFactory(name="goodbye", text="Bye {{user.fullName}}!")
    MessageTemplateFactory(name="refund", text="Your refund is on its way.")
    page = agent_page(agent.username)
    handoff = start_handoff(api, 1, "Ada <Lovelace>")
    messages, _ = open_handoff(page, handoff)
    messages.get_by_role("button", name="Assign to me").click()
    composer = messages.get_by_role("textbox", name="Message")
    picker = messages.get_by_role("listbox", name="Templates")

    composer.press_sequentially("Hi! :g")
    expect(picker).to_be_visible()
    expect(picker.get_by_role("option")).to_have_count(2)  # greeting, goodbye
    composer.press_sequentially("re")
    expect(picker.get_by_role("option")).to_have_count(1)
    expect(composer).to_have_attribute("aria-controls", picker.get_attribute("id"))
    composer.press("ArrowDown")
    option = picker.get_by_role("option", name="greeting")
    expect(option).to_have_attribute("aria-selected", "true")
    expect(composer).to_have_attribute("aria-activedescendant", option.get_attribute("id"))
    composer.press("Enter")

    # Enter chose the template instead of sending: the filled text waits in the box.
    expect(composer).to_have_value("Hi! Hello Ada <Lovelace>, I am Alice.")
    expect(picker).to_be_hidden()
    expect(composer).not_to_have_attribute("aria-activedescendant", re.compile(".*"))
    expect(messages.get_by_role("article").filter(has_text="I am Alice")).to_have_count(0)

    # Escape closes the list and leaves the text as typed.
    composer.fill("")
    composer.press_sequentially(":")
    expect(picker.get_by_role("option")).to_have_count(3)
    composer.press("Escape")
    expect(picker).to_be_hidden()
    expect(composer).to_have_value(":")

    # Typing on does not bring it back; a new trigger does. The mouse chooses too.
    composer.press_sequentially("re")
    expect(picker).to_be_hidden()
    composer.fill("")
    composer.press_sequentially(":ref")
    picker.get_by_role("option", name="refund").click()
    expect(composer).to_have_value("Your refund is on its way.")
    composer.press("Enter")
    expect(
        messages.get_by_role("article").filter(has_text="Your refund is on its way.")
    ).to_be_visible()
    expect(composer).to_have_value("")


def test_notes_are_carried_to_the_conversations_next_handoff(
    agent_page, live_server_url, api, agent
):
    page = agent_page(agent.username)
    first = start_handoff(api, 2, "Grace Hopper")
    messages, contact = open_handoff(page, first)
    expect(contact.get_by_role("heading", name="Grace Hopper")).to_be_visible()
    expect(contact.get_by_role("link", name="user2@example.com")).to_be_visible()
    messages.get_by_role("button", name="Assign to me").click()
    expect(messages.get_by_role("textbox", name="Message")).to_be_visible()  # the new panel

    note_box = contact.get_by_role("textbox", name="Add a note")
    note_box.fill("Wants a callback <tomorrow>")
    note_box.press("Shift+Enter")
    note_box.press_sequentially("before noon")
    note_box.press("Enter")
    note = contact.get_by_role("listitem").filter(has_text="Wants a callback <tomorrow>")
    expect(note).to_be_visible()
    expect(note).to_contain_text("before noon")
    expect(note).to_contain_text(f"#{first['id']}")
    expect(note).to_contain_text("Alice Martin")
    expect(note_box).to_have_value("")
    messages.get_by_role("button", name="Resolve").click()
    expect(messages.get_by_text("Resolved", exact=True)).to_be_visible()

    # The bot hands the same conversation off again: a new handoff, the old note.
    second = start_handoff(api, 2, "Grace Hopper")
    assert second["id"] != first["id"]
    messages, contact = open_handoff(page, second)

    note = contact.get_by_role("listitem").filter(has_text="Wants a callback <tomorrow>")
    expect(note).to_be_visible()
    expect(note.get_by_role("link", name=f"#{first['id']}")).to_be_visible()


def test_labelling_a_handoff_then_filtering_the_inbox_by_that_label(
    agent_page, live_server_url, api, agent
):
    from tests.factories import LabelFactory

    LabelFactory(name="billing", color="#16a34a")
    LabelFactory(name="shipping", color="#2563eb")
    page = agent_page(agent.username)
    labelled = start_handoff(api, 3, "Alan Turing")
    other = start_handoff(api, 4, "Edsger Dijkstra")
    handoffs = page.get_by_role("region", name="Handoffs")
    labelled_item = handoffs.get_by_role("listitem").filter(has_text=f"#{labelled['id']}")
    other_item = handoffs.get_by_role("listitem").filter(has_text=f"#{other['id']}")
    expect(other_item).to_be_visible()
    _, contact = open_handoff(page, labelled)

    labels = contact.get_by_role("group", name="Labels")
    labels.get_by_label("billing").check()

    # The change is stored, reported to the bot, and the item's chip appears live.
    expect(labelled_item.get_by_text("billing", exact=True)).to_be_visible()
    assert api.get(f"/handoffs/{labelled['id']}").json()["labels"] == ["billing"]

    handoffs.get_by_role("group", name="Filter by label").get_by_label("billing").check()

    expect(other_item).to_have_count(0)
    expect(labelled_item).to_be_visible()
    expect(handoffs.get_by_role("listitem").filter(has_text="#")).to_have_count(1)

    # Offline, the labels are read-only.
    page.get_by_role("switch", name="Online").click()
    expect(page.get_by_role("switch", name="Online")).to_have_attribute("aria-checked", "false")
    expect(labels.get_by_label("billing")).to_be_disabled()
    expect(labels.get_by_label("billing")).to_be_checked()
    expect(labels.get_by_label("shipping")).to_be_disabled()


def test_a_note_appears_live_on_another_agents_page(
    agent_page, live_server_url, api, agent, second_agent
):
    alice = agent_page(agent.username)
    bob = agent_page(second_agent.username)
    handoff = start_handoff(api, 5, "Barbara Liskov")
    alice_messages, alice_contact = open_handoff(alice, handoff)
    alice_messages.get_by_role("button", name="Assign to me").click()
    expect(alice_messages.get_by_role("textbox", name="Message")).to_be_visible()
    # Bob opens it directly: assigned to Alice, it is not in his default filters.
    bob_frames: list[str] = []
    bob.on("websocket", lambda ws: ws.on("framereceived", lambda frame: bob_frames.append(frame)))
    bob.goto(f"{live_server_url}/handoffs/{handoff['id']}/")
    bob_contact = bob.get_by_role("region", name="Contact details")
    expect(bob.get_by_text("Alice Martin is answering; you are watching.")).to_be_visible()
    wait_until_watching(bob, bob_frames, handoff)

    alice_box = alice_contact.get_by_role("textbox", name="Add a note")
    alice_box.fill("Second time she writes about this")
    alice_box.press("Enter")

    pushed = bob_contact.get_by_role("listitem").filter(has_text="Second time she writes")
    expect(pushed).to_be_visible()
    expect(pushed).to_contain_text("Alice Martin")
    expect(alice_contact.get_by_role("listitem").filter(has_text="Second time")).to_have_count(1)

    # Bob only watches, and may still add a note: Alice sees it live.
    bob_contact.get_by_role("textbox", name="Add a note").fill("I handled her last ticket")
    bob_contact.get_by_role("textbox", name="Add a note").press("Enter")
    expect(
        alice_contact.get_by_role("listitem").filter(has_text="I handled her last ticket")
    ).to_be_visible()
    expect(bob_contact.get_by_role("listitem").filter(has_text="I handled")).to_have_count(1)
