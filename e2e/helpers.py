from __future__ import annotations

from playwright.sync_api import Page, expect

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's password


def log_in(page: Page, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("region", name="Handoffs")).to_be_visible()


def go_online(page: Page) -> None:
    switch = page.get_by_role("switch", name="Online")
    if switch.get_attribute("aria-checked") != "true":
        switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")
