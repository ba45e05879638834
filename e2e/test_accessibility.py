"""Accessibility (issue 15): axe-core, run in the real browser on every page an agent or a
visitor uses, finds no serious or critical violation. axe-core comes vendored in the
axe-playwright-python package (a dev dependency): nothing is fetched at run time."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth.models import Group
from playwright.sync_api import Browser, Page, expect

from agents.roles import SUPERVISORS
from e2e.helpers import go_online, log_in
from e2e.test_workspace import start_handoff

pytestmark = pytest.mark.django_db(transaction=True)

SEVERE = ("serious", "critical")
axe = Axe()


def severe_violations(page: Page) -> list[str]:
    """Each serious or critical violation: the rule, its help, and the nodes it found."""
    results = axe.run(page)
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] in SEVERE:
            nodes = "; ".join(n["html"][:120] for n in violation["nodes"][:5])
            rule = f"{violation['id']} ({violation['impact']}): {violation['help']}"
            found.append(f"{rule} — {nodes}")
    return found


def test_login_page(browser: Browser, live_server_url):
    page = browser.new_page()
    page.goto(f"{live_server_url}/login/")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert severe_violations(page) == []


def test_agent_pages(browser: Browser, live_server_url, api, agent):
    agent.groups.add(Group.objects.get_or_create(name=SUPERVISORS)[0])
    handoff = start_handoff(api, 1, "Ada Lovelace")
    page = browser.new_page()
    log_in(page, live_server_url, agent.username)
    go_online(page)
    expect(page.get_by_role("region", name="Handoffs").get_by_text("Ada Lovelace")).to_be_visible()
    problems = {"inbox": severe_violations(page)}

    page.goto(f"{live_server_url}/handoffs/{handoff['id']}/")
    expect(page.get_by_role("button", name="Assign to me")).to_be_visible()
    page.get_by_role("button", name="Assign to me").click()
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    problems["conversation"] = severe_violations(page)

    for name, path, region in (
        ("profile", "/profile/", None),
        ("reports", "/reports/", "Reports"),
        ("live", "/reports/live/", "Live"),
        ("search", "/search/?q=Ada", "Search"),
    ):
        page.goto(f"{live_server_url}{path}")
        if region:
            expect(page.get_by_role("region", name=region)).to_be_visible()
        problems[name] = severe_violations(page)

    assert {name: found for name, found in problems.items() if found} == {}


def test_web_chat(browser: Browser, live_server_url):
    page = browser.new_page()
    page.goto(f"{live_server_url}/chat/")
    page.get_by_role("textbox", name="Message", exact=True).fill("Hello")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("region", name="Conversation").get_by_text("Hello")).to_be_visible()
    assert severe_violations(page) == []
