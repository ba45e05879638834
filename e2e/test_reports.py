"""The reports page in a real browser: a supervisor opens it from the top bar (the browser's
time zone joins the address), changes a filter, and both the figures and the address follow;
the server-drawn charts stay within the Content Security Policy."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from e2e.helpers import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_supervisor_changes_a_filter_and_the_figures_and_url_follow(
    browser: Browser, live_server_url, bot, agent
):
    from django.contrib.auth.models import Group

    from agents.roles import SUPERVISORS
    from tests.factories import HandoffFactory

    agent.groups.add(Group.objects.get_or_create(name=SUPERVISORS)[0])
    now = timezone.now()
    for hours, channel in ((1, "web"), (2, "web"), (3, "web"), (4, "whatsapp"), (5, "whatsapp")):
        HandoffFactory(
            conversation__bot=bot,
            conversation__channel=channel,
            created_at=now - timedelta(hours=hours),
        )
    context = browser.new_context(timezone_id="Asia/Tokyo")
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    log_in(page, live_server_url, agent.username)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()

    expect(page).to_have_url(re.compile(r"/reports/\?tz=Asia%2FTokyo$"))
    reports = page.get_by_role("region", name="Reports")
    expect(reports.get_by_text("time zone Asia/Tokyo")).to_be_visible()
    outcomes = reports.get_by_role("table", name="Outcomes per day")
    total = outcomes.get_by_role("row").filter(has_text="Total").get_by_role("cell").first
    expect(total).to_have_text("5")
    expect(reports.get_by_role("img", name="Handoffs per day by outcome")).to_be_visible()

    page.get_by_label("Channel").select_option("whatsapp")
    page.get_by_role("button", name="Apply").click()

    expect(page).to_have_url(re.compile(r"channel=whatsapp"))
    expect(page).to_have_url(re.compile(r"tz=Asia%2FTokyo"))
    expect(total).to_have_text("2")
    expect(page.get_by_label("Channel")).to_have_value("whatsapp")
    # The charts are drawn without inline style or script: nothing broke the page's CSP.
    assert violations == []
    context.close()
