"""The wallboard (/reports/live/) and "Also viewing" in the conversation header, live over the
page's socket."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from e2e.test_workspace import agent_page, open_handoff, start_handoff

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_supervisors_wallboard_follows_a_new_handoff(browser: Browser, live_server_url, api):
    from django.contrib.auth.models import Group

    from agents.roles import SUPERVISORS
    from tests.factories import UserFactory

    sue = UserFactory(username="sue", first_name="Sue", last_name="Park", online=False)
    sue.groups.add(Group.objects.get_or_create(name=SUPERVISORS)[0])
    page = agent_page(browser, live_server_url, sue.username)
    page.goto(f"{live_server_url}/reports/live/")
    live = page.get_by_role("region", name="Live")
    queue_length = live.locator('[data-figure="queue-length"]')
    longest_wait = live.locator('[data-figure="longest-wait"]')
    expect(queue_length).to_have_text("0")
    expect(longest_wait).to_have_text("Nobody waiting")
    agents = live.get_by_role("table", name="Agents online")
    expect(agents.get_by_role("row", name="Sue Park")).to_contain_text("0 / 3")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads

    start_handoff(api, 1, "Grace Hopper")

    expect(queue_length).to_have_text("1")
    expect(longest_wait).to_have_text(
        # ticking in the page: "0 s", "1 s", ...
        re.compile(r"^\d+ s$")
    )
    first = longest_wait.inner_text()
    expect(longest_wait).not_to_have_text(first, timeout=10_000)  # it ticks
    assert page.evaluate("window.sameDocument") is True


def test_an_agent_sees_who_else_views_the_conversation(
    browser: Browser, live_server_url, api, agent, second_agent
):
    start_handoff(api, 1, "Grace Hopper")
    start_handoff(api, 2, "Ada Lovelace")
    bob = agent_page(browser, live_server_url, second_agent.username)
    bob_messages = open_handoff(bob, "Grace Hopper")
    alice_on_bobs_page = bob_messages.get_by_role("list", name="Also viewing").get_by_role(
        "img", name="Alice Martin"
    )
    expect(bob_messages.get_by_role("list", name="Also viewing")).to_be_hidden()  # only Bob

    alice = agent_page(browser, live_server_url, agent.username)
    alice_messages = open_handoff(alice, "Grace Hopper")

    expect(alice_on_bobs_page).to_be_visible()
    also_viewing = alice_messages.get_by_role("list", name="Also viewing")
    expect(also_viewing.get_by_role("img", name="Bob Stone")).to_be_visible()
    expect(also_viewing.get_by_role("img", name="Alice Martin")).to_be_hidden()  # not herself

    open_handoff(alice, "Ada Lovelace")  # Alice moves on

    expect(alice_on_bobs_page).to_be_hidden()
    expect(bob_messages.get_by_role("list", name="Also viewing")).to_be_hidden()

    open_handoff(alice, "Grace Hopper")
    expect(alice_on_bobs_page).to_be_visible()
    alice.close()  # her page goes away

    expect(alice_on_bobs_page).to_be_hidden()
