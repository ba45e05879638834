"""A note added while a conversation panel is on its way (rendered, its socket not yet watching
the conversation) shows without a reload, and once, whichever of its push and the socket's
catch-up reaches the page first.

The page's socket goes through Playwright's WebSocket route, which holds the page's "watch"
frame while another agent adds the note: the gap between the panel's GET and the socket
joining the conversation, made as wide as needed.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Browser, WebSocketRoute, expect

from e2e.helpers import go_online, log_in

pytestmark = pytest.mark.django_db(transaction=True)

AGENT_SOCKET = re.compile(r"/ws/agent/$")


def start_handoff(api, n: int, name: str) -> dict:
    body = {"conversation_id": f"th-{n}", "user_id": f"u-{n}", "channel": "web"}
    response = api.post("/handoffs", json=body | {"user": {"fullName": name}})
    assert response.status_code == 201, response.text
    return response.json()


def add_note_as(agent, handoff: dict, text: str):
    """The service, as another agent's request would call it: in a thread of its own, where
    its after-commit pushes may run (not beside sync Playwright's event loop)."""
    from django.db import connection

    from agents.services import set_online
    from handoffs.messaging import add_note
    from handoffs.models import Handoff

    def run():
        try:
            set_online(agent=agent, online=True)
            return add_note(handoff=Handoff.objects.get(pk=handoff["id"]), author=agent, text=text)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(run).result()


def push_of(note) -> str:
    """The frame the note's push carries (handoffs.live.note_added)."""
    from django.template.loader import render_to_string

    return render_to_string(
        "handoffs/notes.html#append", {"notes": [note], "conversation_id": note.conversation_id}
    )


class HeldWatch:
    """Routes the agent page's socket; `on_watch(page_side)` runs when the page first asks
    to watch `handoff`, before the server hears of it. Frames from the server are kept."""

    def __init__(self, handoff: dict, on_watch) -> None:
        self.handoff, self.on_watch = handoff, on_watch
        self.done = False
        self.from_server: list[str] = []
        self.page_side: WebSocketRoute

    def __call__(self, page_side: WebSocketRoute) -> None:
        self.page_side = page_side
        server = page_side.connect_to_server()

        def from_page(message: str | bytes) -> None:
            data = json.loads(message)
            wanted = data.get("action") in ("hello", "watch")
            if wanted and data.get("handoff") == self.handoff["id"] and not self.done:
                self.done = True
                self.on_watch(page_side)
            server.send(message)

        def from_server(message: str | bytes) -> None:
            self.from_server.append(str(message))
            page_side.send(message)

        page_side.on_message(from_page)
        server.on_message(from_server)


def open_page(browser: Browser, live_server_url: str, agent, route: HeldWatch):
    context = browser.new_context()
    context.route_web_socket(AGENT_SOCKET, route)
    page = context.new_page()
    log_in(page, live_server_url, agent.username)
    go_online(page)
    return context, page


def open_panel(page, handoff: dict):
    page.get_by_role("region", name="Handoffs").get_by_role("link").filter(
        has_text=f"#{handoff['id']}"
    ).click()
    return page.get_by_role("region", name="Contact details")


def test_a_note_added_before_the_panel_watches_shows_without_a_reload(
    browser: Browser, live_server_url, api, agent, second_agent
):
    handoff = start_handoff(api, 1, "Ada Byron")
    notes = []
    # The panel is on the page, its socket not yet watching: Bob adds a note right then. Its
    # push goes to the conversation's watchers, which this page is not yet.
    route = HeldWatch(
        handoff,
        lambda _page_side: notes.append(
            add_note_as(second_agent, handoff, "Added while the panel was loading")
        ),
    )
    context, page = open_page(browser, live_server_url, agent, route)

    contact = open_panel(page, handoff)

    missed = contact.get_by_role("listitem").filter(has_text="Added while the panel was loading")
    expect(missed).to_be_visible()
    expect(missed).to_contain_text("Bob Stone")
    # The push arriving after the catch-up (it does when the note commits between the
    # socket's join and its read) adds nothing; a later note's push still shows.
    later = add_note_as(second_agent, handoff, "A later note")
    route.page_side.send(push_of(notes[0]))
    route.page_side.send(push_of(later))
    expect(contact.get_by_role("listitem").filter(has_text="A later note")).to_be_visible()
    expect(missed).to_have_count(1)
    context.close()


def test_a_note_pushed_before_the_catch_up_is_shown_once(
    browser: Browser, live_server_url, api, agent, second_agent
):
    handoff = start_handoff(api, 2, "Mary Jackson")
    notes = []

    def note_then_its_push(page_side: WebSocketRoute) -> None:
        notes.append(add_note_as(second_agent, handoff, "Pushed, then caught up"))
        page_side.send(push_of(notes[0]))  # the push wins the race to the page

    route = HeldWatch(handoff, note_then_its_push)
    context, page = open_page(browser, live_server_url, agent, route)

    contact = open_panel(page, handoff)

    note = contact.get_by_role("listitem").filter(has_text="Pushed, then caught up")
    expect(note).to_be_visible()
    # Wait for the catch-up that carries it again to have reached the page.
    marker = f'id="note-{notes[0].pk}"'
    for _ in range(100):
        if any(marker in frame for frame in route.from_server):
            break
        page.wait_for_timeout(50)
    else:
        raise AssertionError("the catch-up never carried the note")
    page.wait_for_timeout(200)
    expect(note).to_have_count(1)
    context.close()
