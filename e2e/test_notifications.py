"""Browser notifications and the new-handoff sound, per agent, while the tab is hidden.

Headless Chromium shows no notifications and plays no sound, so the page's Notification and
audio are recorded instead (an init script), and "hidden" is what the script says
(document.hidden and visibilitychange); the permission is granted to the context."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from e2e.helpers import go_online, log_in

pytestmark = pytest.mark.django_db(transaction=True)

RECORDER = """
window.__notifications = [];
window.__chimes = 0;
window.__hidden = false;
window.__frames = 0;
document.addEventListener("htmx:wsAfterMessage", function () { window.__frames += 1; });
class RecordedNotification {
  constructor(title, options) {
    const given = options || {};
    window.__notifications.push({ title: title, body: given.body, tag: given.tag });
  }
  close() {}
  static get permission() { return "granted"; }
  static requestPermission() { return Promise.resolve("granted"); }
}
window.Notification = RecordedNotification;
Object.defineProperty(Document.prototype, "hidden", {
  configurable: true, get() { return window.__hidden; },
});
Object.defineProperty(Document.prototype, "visibilityState", {
  configurable: true, get() { return window.__hidden ? "hidden" : "visible"; },
});
HTMLMediaElement.prototype.play = function () { window.__chimes += 1; return Promise.resolve(); };
"""


def agent_context(browser: Browser, base_url: str) -> BrowserContext:
    context = browser.new_context()
    context.grant_permissions(["notifications"], origin=base_url)
    context.add_init_script(RECORDER)
    return context


def hide(page: Page) -> None:
    # Once the page's socket answered (it is in its groups from its opening): what follows
    # arrives as pushes, not with the list's first rendering.
    page.wait_for_function("() => window.__frames >= 1")
    page.evaluate("window.__hidden = true; document.dispatchEvent(new Event('visibilitychange'))")


def notifications(page: Page) -> list[dict]:
    return page.evaluate("window.__notifications")


def new_handoff(api, conversation_id: str, name: str, text: str) -> dict:
    body = {
        "conversation_id": conversation_id,
        "user_id": f"u-{conversation_id}",
        "channel": "whatsapp",
        "user": {"fullName": name},
        "history": [{"id": f"{conversation_id}-1", "direction": "incoming", "text": text}],
    }
    response = api.post("/handoffs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_opted_in_agent_is_notified_of_new_handoffs_and_their_own_messages_without_sound(
    browser: Browser, live_server_url: str, agent, api
):
    context = agent_context(browser, live_server_url)
    page = context.new_page()
    log_in(page, live_server_url, agent.username)
    go_online(page)
    page.get_by_role("link", name="Profile").click()
    page.get_by_label("Browser notifications").check()
    page.get_by_label("Play a sound").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Profile saved.")).to_be_visible()
    page.get_by_role("link", name="Inbox").click()
    expect(page.locator("body")).to_have_attribute("data-notifications", "on")
    expect(page.locator("body")).to_have_attribute("data-sound", "off")

    # Visible: the handoff appears, and nothing notifies.
    new_handoff(api, "th-1", "Ada Lovelace", "Where is my parcel?")
    item = (
        page.get_by_role("region", name="Handoffs")
        .get_by_role("link")
        .filter(has_text="Ada Lovelace")
    )
    item.click()
    page.get_by_role("region", name="Messages").get_by_role("button", name="Assign to me").click()
    expect(page.locator(".handoff-head")).to_have_attribute("data-agent", str(agent.pk))
    page.get_by_role("link", name="Inbox").first.click()  # the panel closed: nothing "read"
    expect(page.get_by_role("region", name="Handoffs")).to_be_visible()

    hide(page)
    # A message in the agent's own handoff.
    relayed = api.post(
        "/messages",
        json={
            "conversation_id": "th-1",
            "user_id": "u-th-1",
            "channel": "whatsapp",
            "id": "th-1-2",
            "direction": "incoming",
            "text": "Any news?",
        },
    )
    assert relayed.status_code == 201
    page.wait_for_function("() => window.__notifications.length >= 1")
    # A new handoff.
    new_handoff(api, "th-2", "Grace Hopper", "My order is late")
    page.wait_for_function("() => window.__notifications.length >= 2")

    shown = notifications(page)
    assert [n["title"] for n in shown] == ["Ada Lovelace: Any news?", "New handoff: Grace Hopper"]
    assert shown[1]["body"] == "My order is late"
    assert page.evaluate("window.__chimes") == 0  # "Play a sound" is off
    context.close()


def test_notifications_are_opt_in_and_the_chime_plays_by_default(
    browser: Browser, live_server_url: str, agent, api
):
    context = agent_context(browser, live_server_url)
    page = context.new_page()
    log_in(page, live_server_url, agent.username)
    expect(page.locator("body")).to_have_attribute("data-notifications", "off")
    hide(page)

    new_handoff(api, "th-3", "Alan Turing", "Hello?")

    page.wait_for_function("() => window.__chimes >= 1")
    expect(page.get_by_role("region", name="Handoffs").get_by_text("Alan Turing")).to_be_visible()
    assert notifications(page) == []
    context.close()


def test_clicking_a_notification_opens_the_conversation(
    browser: Browser, live_server_url: str, agent, api
):
    context = agent_context(browser, live_server_url)
    page = context.new_page()
    log_in(page, live_server_url, agent.username)
    page.get_by_role("link", name="Profile").click()
    page.get_by_label("Browser notifications").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Profile saved.")).to_be_visible()
    page.get_by_role("link", name="Inbox").click()
    # The recorder keeps the notification objects' click handlers too.
    page.evaluate(
        """
        const Recorded = window.Notification;
        window.Notification = class extends Recorded {
          constructor(title, options) { super(title, options); window.__last = this; }
        };
        undefined;
        """
    )
    hide(page)

    new_handoff(api, "th-4", "Ada Lovelace", "Is anyone there?")
    page.wait_for_function("() => window.__last !== undefined")
    page.evaluate("window.__hidden = false; window.__last.onclick()")

    messages = page.get_by_role("region", name="Messages")
    expect(messages.get_by_text("Is anyone there?")).to_be_visible()
    context.close()
