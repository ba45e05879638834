"""Escaping, proved in the browser: markup put in every field an agent or a visitor sees stays
text. Nothing runs (`window.__pwned` stays undefined), no injected element exists, the literal
text shows, and the page reports no Content Security Policy violation (which an injected inline
script or handler would cause, were it ever parsed as markup)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from e2e.helpers import go_online, log_in

pytestmark = pytest.mark.django_db(transaction=True)

IMG = '<img src=x onerror="window.__pwned=1">'
SCRIPT = "<script>window.__pwned=2</script>"
SVG = '"><svg onload=window.__pwned=3>'
CURLY = "{{7*7}}"
XSS = IMG + SCRIPT + SVG + CURLY
INJECTED = "img[src='x'], svg[onload], [onerror], [onload], script:not([src])"


def watch_console(page: Page) -> list[str]:
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return violations


def assert_inert(page: Page, violations: list[str]) -> None:
    assert page.evaluate("typeof window.__pwned") == "undefined"
    # Our own inline scripts carry a nonce and no markup from users: only injected ones lack
    # both a src and a nonce.
    injected = page.eval_on_selector_all(
        INJECTED,
        "els => els.filter(e => !(e.tagName === 'SCRIPT' && e.nonce)).map(e => e.outerHTML)",
    )
    assert injected == []
    assert violations == []


@pytest.fixture
def contexts(browser: Browser):
    opened = []

    def new_page() -> Page:
        opened.append(browser.new_context())
        return opened[-1].new_page()

    yield new_page
    for context in opened:
        context.close()


def test_markup_from_bots_users_and_agents_stays_text_in_the_agent_pages(
    contexts, live_server_url, api, agent, second_agent
):
    from agents.services import set_online
    from handoffs.messaging import add_note
    from handoffs.models import Handoff
    from tests.factories import LabelFactory, MessageTemplateFactory

    LabelFactory(name="<b>lbl</b>" + SVG[:20])
    MessageTemplateFactory(name="<i>tpl</i>", text="Tpl " + XSS)
    second_agent.first_name, second_agent.last_name = "<img src=x onerror=1>", SCRIPT
    second_agent.save()
    set_online(agent=second_agent, online=True)

    started = api.post(
        "/handoffs",
        json={
            "conversation_id": "th-" + XSS,
            "user_id": "u-" + XSS,
            "channel": SVG,
            "user": {
                "fullName": "Ada " + XSS,
                "email": XSS,
                "address": {"<b>city</b>" + SVG: XSS, "list": [XSS]},
            },
            "history": [
                {"id": "h1", "direction": "incoming", "text": "hist in " + XSS},
                {"id": "h2", "direction": "outgoing", "text": "hist out " + XSS},
                {
                    "id": "h3",
                    "direction": "outgoing",
                    "payload": {"type": "card", "title": "card " + XSS},
                },
            ],
            "labels": ["<b>lbl</b>" + SVG[:20]],
        },
    )
    assert started.status_code == 201, started.text
    handoff = started.json()
    for n, (direction, body) in enumerate(
        [
            ("incoming", {"text": "live in " + XSS}),
            ("outgoing", {"text": "live out " + XSS}),
            (
                "outgoing",
                {
                    "payload": {
                        "type": "single-choice",
                        "choices": [{"title": "choice " + XSS, "value": XSS}],
                    }
                },
            ),
        ]
    ):
        relayed = api.post(
            "/messages",
            json={
                "conversation_id": "th-" + XSS,
                "user_id": "u-" + XSS,
                "channel": SVG,
                "id": f"m{n}",
                "direction": direction,
                **body,
            },
        )
        assert relayed.status_code == 201, relayed.text
    add_note(handoff=Handoff.objects.get(pk=handoff["id"]), author=second_agent, text="note " + XSS)

    page = contexts()
    violations = watch_console(page)
    log_in(page, live_server_url, agent.username)
    go_online(page)
    inbox = page.get_by_role("region", name="Handoffs")
    expect(inbox.get_by_text("Ada " + XSS).first).to_be_attached()
    assert_inert(page, violations)

    inbox.get_by_role("link").filter(has_text=f"#{handoff['id']}").click()
    messages = page.get_by_role("region", name="Messages")
    contact = page.get_by_role("region", name="Contact details")
    expect(messages.get_by_role("heading", name=f"#{handoff['id']}")).to_be_visible()
    for text in ["live in ", "live out ", "hist in ", "hist out "]:
        expect(messages.get_by_text(text + XSS)).to_be_visible()
    expect(messages.get_by_text("choice " + XSS, exact=False).first).to_be_visible()
    expect(messages.get_by_text("card " + XSS, exact=False).first).to_be_visible()
    expect(contact.get_by_text("note " + XSS)).to_be_visible()
    expect(contact.get_by_text(XSS, exact=True).first).to_be_visible()
    expect(contact.get_by_text("<b>lbl</b>", exact=False).first).to_be_attached()
    expect(page.get_by_text("<img src=x onerror=1>", exact=False).first).to_be_attached()
    assert_inert(page, violations)

    messages.get_by_role("button", name="Assign to me").click()
    composer = messages.get_by_role("textbox", name="Message")
    composer.press_sequentially(":<i")
    picker = messages.get_by_role("listbox", name="Templates")
    option = picker.get_by_role("option", name="<i>tpl</i>")
    expect(option).to_be_visible()
    option.click()
    expect(composer).to_have_value("Tpl " + XSS)
    messages.get_by_role("button", name="Send").click()
    expect(messages.get_by_role("article").filter(has_text="Tpl " + XSS)).to_be_visible()
    expect(composer).to_have_value("")
    assert_inert(page, violations)

    # Reloaded, the page renders everything server-side once more (not from pushes).
    page.reload()
    expect(messages.get_by_text("Tpl " + XSS)).to_be_visible()
    assert_inert(page, violations)


def test_markup_stays_text_in_the_visitors_web_chat(contexts, live_server_url, agent):
    from handoffs import messaging, services
    from handoffs.models import Handoff
    from webchat import services as webchat

    agent.first_name, agent.last_name = IMG, SVG
    agent.save()
    visitor = contexts()
    violations = watch_console(visitor)
    visitor.goto(f"{live_server_url}/chat/")
    log = visitor.get_by_role("region", name="Conversation")

    visitor.get_by_role("textbox", name="Message", exact=True).fill("visitor " + XSS)
    visitor.get_by_role("button", name="Send").click()
    expect(log.get_by_text("visitor " + XSS)).to_be_visible()
    visitor.get_by_role("button", name="Talk to a person").click()
    handoff = None
    for _ in range(50):
        handoff = Handoff.objects.filter(bot=webchat.get_webchat_bot()).first()
        if handoff:
            break
        visitor.wait_for_timeout(100)
    assert handoff is not None

    from agents.services import set_online

    set_online(agent=agent, online=True)
    handoff = services.assign_handoff(handoff=handoff, agent=agent)
    messaging.send_agent_message(handoff=handoff, agent=agent, text="agent " + XSS)
    # The pushes above were made in this process: the page's socket catches up on reconnect.
    visitor.reload()

    expect(log.get_by_text("agent " + XSS)).to_be_visible()
    expect(log.get_by_text(IMG, exact=False).first).to_be_visible()  # the assign message
    assert_inert(visitor, violations)
