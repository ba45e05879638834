"""Languages in a real browser: an agent whose profile says French works in French (pages,
live updates, the scripts' relative times and dates), a Spanish visitor's web chat follows the
browser (README "Languages")."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from e2e.helpers import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

# Chromium's (ICU's) short month names in French, as the notes' dates show them.
FRENCH_MONTHS = (
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
)


def start_handoff(api, n: int, name: str) -> dict:
    response = api.post(
        "/handoffs",
        json={
            "conversation_id": f"fr-{n}",
            "user_id": f"u-{n}",
            "channel": "whatsapp",
            "user": {"fullName": name},
            "history": [{"id": f"h-{n}", "direction": "incoming", "text": "Bonjour"}],
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_a_french_agent_works_in_french(browser: Browser, live_server_url, api, agent):
    from agents.models import AgentProfile
    from handoffs.models import Handoff

    AgentProfile.objects.filter(user=agent).update(interface_language="fr")
    earlier = start_handoff(api, 1, "Ada Lovelace")
    Handoff.objects.filter(pk=earlier["id"]).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )
    page = browser.new_context(locale="en-US").new_page()  # the browser asks for English

    page.goto(f"{live_server_url}/login/")  # logged out: the browser's language
    page.get_by_label("Username").fill(agent.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    handoffs = page.get_by_role("region", name="Demandes")  # "Handoffs"
    expect(handoffs).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    switch = page.get_by_role("switch", name="En ligne")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(handoffs.get_by_role("checkbox", name="Non attribuées")).to_be_checked()
    first = handoffs.get_by_role("link").filter(has_text="Ada Lovelace")
    expect(first.locator("time")).to_have_text("il y a 5 min")  # times.js, in French

    start_handoff(api, 2, "Grace Hopper")  # arrives live

    item = handoffs.get_by_role("link").filter(has_text="Grace Hopper")
    expect(item.locator("time")).to_have_text("à l’instant")
    expect(item).to_contain_text("En attente")  # the status badge
    item.click()
    messages = page.get_by_role("region", name="Messages")
    messages.get_by_role("button", name="M’attribuer").click()  # "Assign to me"
    composer = messages.get_by_role("textbox", name="Message")
    composer.fill("Bonjour Grace, je m’en occupe.")
    messages.get_by_role("button", name="Envoyer").click()  # "Send"
    expect(messages.get_by_role("article").filter(has_text="je m’en occupe")).to_be_visible()
    expect(messages.get_by_role("button", name="Résoudre")).to_be_visible()  # "Resolve"
    expect(messages.get_by_role("button", name="Transférer")).to_be_visible()  # "Transfer"

    contact = page.get_by_role("region", name="Coordonnées")  # "Contact details"
    note = contact.get_by_role("textbox", name="Ajouter une note")  # "Add a note"
    note.fill("Cliente fidèle")
    note.press("Enter")
    written = contact.get_by_role("listitem").filter(has_text="Cliente fidèle")
    month = FRENCH_MONTHS[timezone.localtime().month - 1]
    expect(written.locator("time")).to_have_text(re.compile(rf"^\d{{1,2}} {re.escape(month)}"))

    page.get_by_role("button", name="Raccourcis clavier").click()  # "Keyboard shortcuts"
    expect(page.get_by_role("dialog", name="Raccourcis clavier")).to_be_visible()
    page.context.close()


def test_a_spanish_visitor_gets_the_web_chat_in_spanish(browser: Browser, live_server_url):
    context = browser.new_context(locale="es-ES")  # Accept-Language: es-ES
    page = context.new_page()

    page.goto(f"{live_server_url}/chat/")

    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", name="Chatea con nosotros")).to_be_visible()
    page.get_by_role("textbox", name="Mensaje", exact=True).fill("Hola")
    page.get_by_role("button", name="Enviar", exact=True).click()
    conversation = page.get_by_role("region", name="Conversación")
    expect(
        conversation.get_by_text("Soy el bot de demostración de hitlnext.", exact=False)
    ).to_be_visible()
    expect(page.get_by_role("button", name="Hablar con una persona")).to_be_visible()

    page.get_by_role("button", name="Hablar con una persona").click()

    expect(page.get_by_text("Esperando a que se una una persona…")).to_be_visible()
    context.close()


def test_live_updates_an_english_speaker_caused_reach_a_french_page_in_french(
    browser: Browser, live_server_url, api, agent, second_agent
):
    """Pushes are rendered once, in the language of whoever caused them: the French page
    puts its own words in (personalize.js) and writes sizes itself (units.js)."""
    from agents.models import AgentProfile
    from e2e.test_workspace import agent_page, open_handoff

    AgentProfile.objects.filter(user=agent).update(interface_language="en")
    AgentProfile.objects.filter(user=second_agent).update(interface_language="fr")
    handoff = start_handoff(api, 3, "Ada Lovelace")
    alice = agent_page(browser, live_server_url, agent.username)
    at_alice = open_handoff(alice, "Ada Lovelace")
    at_alice.get_by_role("button", name="Assign to me").click()
    expect(at_alice.get_by_role("textbox", name="Message")).to_be_visible()
    bob = browser.new_context(locale="en-US").new_page()
    bob.goto(f"{live_server_url}/login/")
    bob.get_by_label("Username").fill(second_agent.username)
    bob.get_by_label("Password").fill(PASSWORD)
    bob.get_by_role("button", name="Log in").click()
    bob.get_by_role("switch", name="En ligne").click()
    bob.goto(f"{live_server_url}/handoffs/{handoff['id']}/")
    at_bob = bob.get_by_role("region", name="Messages")
    expect(at_bob.get_by_text("Alice Martin répond ; vous regardez.")).to_be_visible()

    response = api.post(  # the bot relays a file the user sent: English, as the API is
        "/messages",
        json={
            "conversation_id": "fr-3",
            "user_id": "u-3",
            "channel": "whatsapp",
            "id": "file-1",
            "direction": "incoming",
            "payload": {
                "type": "file",
                "url": "https://files.example.com/devis.pdf",
                "name": "devis.pdf",
                "size": 1536,
            },
        },
    )
    assert response.status_code in (200, 201), response.text
    log = at_bob.get_by_role("log", name="Conversation")
    expect(log.get_by_role("article").filter(has_text="devis.pdf")).to_contain_text("1,5 Ko")

    at_alice.get_by_role("button", name="Transfer").click()
    alice.get_by_role("dialog", name="Transfer handoff").get_by_role(
        "button", name="Bob Stone"
    ).click()

    notice = bob.get_by_role("status")
    expect(notice).to_contain_text("Alice Martin vous a transféré une demande :")
    expect(notice.get_by_role("button", name="Fermer")).to_be_visible()  # "Dismiss"
    contact = bob.get_by_role("region", name="Coordonnées")  # its labels, pushed
    expect(contact).to_contain_text("Étiquettes")
    expect(contact).not_to_contain_text("Labels")
    for page in (alice, bob):
        page.context.close()
