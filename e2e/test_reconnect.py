"""Daphne restarted under an open agent page: the socket drops (1006), htmx reconnects to the
same address by itself, and the consumer's catch-up on hello shows what happened meanwhile,
without a page reload."""

from __future__ import annotations

import socket
from functools import partial

import pytest
from playwright.sync_api import Browser, expect

from e2e.conftest import _application
from e2e.helpers import go_online, log_in

pytestmark = pytest.mark.django_db(transaction=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def restartable_server(django_db_blocker):
    """start() runs a Daphne child process on one fixed port; call it again after stop()."""
    from daphne.testing import DaphneProcess
    from django.db import connections

    port = _free_port()
    running: list = []

    def start() -> str:
        # As in conftest's live server: nothing open may cross the fork.
        for connection in connections.all():
            connection.close()
            if hasattr(connection, "close_pool"):
                connection.close_pool()
        process = DaphneProcess("localhost", partial(_application), port=port)
        with django_db_blocker.unblock():
            process.start()
        assert process.ready.wait(timeout=30), "Daphne did not start"
        assert process.port.value == port
        running.append(process)
        return f"http://localhost:{port}"

    def stop() -> None:
        process = running.pop()
        process.terminate()
        process.join(timeout=10)

    yield start, stop
    while running:
        stop()


def test_agent_page_reconnects_after_a_server_restart_and_catches_up(
    browser: Browser, restartable_server, bot, agent
):
    from handoffs import services
    from handoffs.messaging import relay_message

    start, stop = restartable_server
    base_url = start()
    handoff, _ = services.start_handoff(
        bot=bot,
        conversation_id="th-1",
        user_id="u-1",
        channel="web",
        user_variables={"fullName": "Ada Lovelace"},
    )
    context = browser.new_context()
    page = context.new_page()
    closes: list[int] = []
    page.on("websocket", lambda ws: ws.on("close", lambda _ws: closes.append(1)))
    log_in(page, base_url, agent.username)
    go_online(page)
    page.get_by_role("region", name="Handoffs").get_by_role("link").filter(
        has_text=f"#{handoff.pk}"
    ).click()
    messages = page.get_by_role("region", name="Messages")
    expect(messages.get_by_role("heading", name=f"#{handoff.pk}")).to_be_visible()
    page.evaluate(
        """window.__sameDocument = true; window.__closeCodes = [];
        document.body.addEventListener('htmx:wsClose',
            e => window.__closeCodes.push(e.detail.event.code));"""
    )

    stop()
    for _ in range(100):
        if closes:
            break
        page.wait_for_timeout(100)
    assert closes, "the page never saw its socket close"
    # An abnormal close, which htmx retries (it would not retry a 1000); a retry that finds
    # the server still down closes with 1006 again.
    codes = page.evaluate("window.__closeCodes")
    assert codes and set(codes) == {1006}, codes
    relay_message(
        bot=bot,
        conversation_id="th-1",
        user_id="u-1",
        channel="web",
        external_id="m-during-outage",
        direction="incoming",
        text="sent while you were away",
    )
    start()

    # htmx retries with full jitter (up to 2 s, then 4 s...) : allow a few rounds.
    expect(messages.get_by_text("sent while you were away")).to_be_visible(timeout=30_000)
    assert page.evaluate("window.__sameDocument") is True
    context.close()
