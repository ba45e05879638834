"""The web chat in a real browser: a visitor on a phone-sized screen, the widget, and a
visitor and an agent (two browser contexts) conversing both ways live."""

from __future__ import annotations

import re
import socket
import urllib.request
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from e2e.helpers import go_online, log_in

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True}


def visitor_says(page: Page, text: str) -> None:
    page.get_by_role("textbox", name="Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()


def test_visitor_talks_to_the_demo_bot_on_a_phone(browser: Browser, live_server_url: str):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(f"{live_server_url}/chat/")
    conversation = page.get_by_role("region", name="Conversation")

    visitor_says(page, "Hello <b>there</b>")

    expect(conversation.get_by_text("Hello <b>there</b>")).to_be_visible()
    expect(conversation.get_by_text("I'm the hitlnext demo bot.", exact=False)).to_be_visible()
    expect(page.get_by_role("textbox", name="Message", exact=True)).to_have_value("")
    # Everything fits the phone's width: nothing to scroll sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    expect(page.get_by_role("button", name="Talk to a person")).to_be_in_viewport()
    expect(page.get_by_role("button", name="Send")).to_be_in_viewport()

    # A reload keeps the visitor's conversation: the id is in its own signed cookie, which
    # scripts cannot read, and no server-side session was made for it.
    page.reload()
    expect(conversation.get_by_text("Hello <b>there</b>")).to_be_visible()
    cookies = {cookie["name"]: cookie for cookie in context.cookies()}
    assert set(cookies) == {"hitlnext_visitor"}
    assert cookies["hitlnext_visitor"]["httpOnly"]
    assert cookies["hitlnext_visitor"]["sameSite"] == "Lax"
    context.close()


def test_widget_opens_the_chat_in_a_frame(browser: Browser, live_server_url: str):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(f"{live_server_url}/chat/demo/")

    page.get_by_role("button", name="Chat with us").click()

    chat = page.frame_locator("iframe[title=Chat]")
    chat.get_by_role("textbox", name="Message", exact=True).fill("from the widget")
    chat.get_by_role("button", name="Send").click()
    expect(chat.get_by_text("I'm the hitlnext demo bot.", exact=False)).to_be_visible()
    page.get_by_role("button", name="Close chat").click()
    expect(page.locator("iframe[title=Chat]")).to_be_hidden()
    context.close()


def test_visitor_and_agent_converse_live_both_ways(browser: Browser, live_server_url: str, agent):
    visitor_context = browser.new_context(**PHONE)
    agent_context = browser.new_context()
    visitor = visitor_context.new_page()
    inbox = agent_context.new_page()

    # The agent is online in the inbox first, so the new handoff has to arrive live.
    log_in(inbox, live_server_url, agent.username)
    go_online(inbox)

    visitor.goto(f"{live_server_url}/chat/")
    visitor_log = visitor.get_by_role("region", name="Conversation")
    visitor_says(visitor, "My parcel never arrived")
    expect(visitor_log.get_by_text("I'm the hitlnext demo bot.", exact=False)).to_be_visible()
    visitor.get_by_role("button", name="Talk to a person").click()
    expect(visitor.get_by_text("Waiting for a person to join")).to_be_visible()

    handoffs = inbox.get_by_role("region", name="Handoffs")
    item = handoffs.get_by_role("link").filter(has_text="My parcel never arrived")
    expect(item).to_be_visible()
    item.click()
    messages = inbox.get_by_role("region", name="Messages")
    expect(messages.get_by_text("My parcel never arrived")).to_be_visible()
    messages.get_by_role("button", name="Assign to me").click()

    # The visitor sees who joined, live.
    expect(visitor.get_by_text("You are talking with")).to_be_visible()
    expect(visitor.locator(".wc-agent-name")).to_have_text("Alice Martin")

    # Agent -> visitor.
    messages.get_by_role("textbox", name="Message", exact=True).fill(
        "Hello, I'm Alice. Let me check your parcel."
    )
    messages.get_by_role("button", name="Send").click()
    expect(visitor_log.get_by_text("Let me check your parcel.", exact=False)).to_be_visible()
    expect(visitor_log.locator(".wc-agent").last).to_contain_text("Alice Martin")

    # Visitor -> agent; the bot stays quiet meanwhile.
    visitor_says(visitor, "Thank you! Order <1234>")
    expect(messages.get_by_text("Thank you! Order <1234>")).to_be_visible()
    expect(visitor_log.get_by_text("I'm the hitlnext demo bot.", exact=False)).to_have_count(1)

    # Resolve hands the visitor back to the bot.
    messages.get_by_role("button", name="Resolve").click()
    expect(visitor.get_by_text("The agent ended the chat.", exact=False)).to_be_visible()
    expect(visitor.get_by_role("button", name="Talk to a person")).to_be_visible()
    visitor_context.close()
    agent_context.close()


def test_the_server_closes_a_visitor_socket_that_floods_it(live_server_url: str):
    # Through Daphne itself, which allows a server only some close codes (a refused one ends
    # the socket with 1011, which htmx reconnects after). From 127.0.0.2: the flooding address
    # may open no socket for a minute, and the other tests chat from 127.0.0.1.
    page = urllib.request.urlopen(f"{live_server_url}/chat/").read().decode()
    path = re.search(r'ws-connect="([^"]+)"', page).group(1).replace("&amp;", "&")
    port = urlsplit(live_server_url).port
    sock = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0))

    with connect(f"ws://localhost:{port}{path}", sock=sock, origin=live_server_url) as ws:
        ws.recv(timeout=5)  # the catch-up
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(2000):
                ws.send('{"text":"x"}')
            while True:
                ws.recv(timeout=5)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4429
