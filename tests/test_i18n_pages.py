"""Languages: an agent's pages in the language of their profile, a web chat visitor's in their
browser's, the bot API always in English (README "Languages")."""

from __future__ import annotations

import gettext as gettext_module
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone, translation
from django.utils.translation import trans_real

from agents.models import AgentProfile
from handoffs.models import Handoff
from tests.api_support import BotApi
from tests.factories import EndUserFactory, HandoffFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def forget_loaded_catalogs() -> None:
    """Catalogs are read once per process: drop them so the ones just compiled are read."""
    trans_real._translations = {}
    trans_real._default = None
    gettext_module._translations.clear()


@pytest.fixture(scope="module", autouse=True)
def _compiled_catalogs():
    call_command("compilemessages", verbosity=0)
    forget_loaded_catalogs()
    yield
    translation.activate("en")


def speaking(user, language: str) -> Client:
    AgentProfile.objects.filter(user=user).update(interface_language=language)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def handoff(bot):
    created = timezone.now() - timedelta(minutes=7)
    return HandoffFactory(
        conversation__bot=bot,
        conversation__end_user=EndUserFactory(bot=bot, variables={"fullName": "Ada Lovelace"}),
        created_at=created,
        last_activity_at=created,
    )


def test_a_french_agent_gets_the_inbox_in_french(agent, handoff):
    response = speaking(agent, "fr").get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")

    page = response.content.decode()
    assert response["Content-Language"] == "fr"
    assert 'aria-label="Demandes"' in page  # the region "Handoffs"
    assert "Non attribuées" in page and "Attribuées à moi" in page  # the filters
    assert "Les plus récentes d’abord" in page
    assert "il y a 7\xa0minutes" in page  # the item's relative time, before the script's
    assert "Raccourcis clavier" in page  # the help sheet


def test_the_profiles_language_wins_over_the_browsers(agent, handoff):
    page = speaking(agent, "en").get("/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()

    assert 'aria-label="Handoffs"' in page and "Unassigned" in page
    assert "7\xa0minutes ago" in page


def test_an_agent_who_chose_no_language_gets_the_browsers(agent, handoff):
    response = speaking(agent, "").get("/", HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9")

    assert response["Content-Language"] == "es"
    assert 'aria-label="Solicitudes"' in response.content.decode()


def test_an_unknown_language_on_the_profile_falls_back_to_the_browsers(agent, handoff):
    response = speaking(agent, "de").get("/", HTTP_ACCEPT_LANGUAGE="es")

    assert response["Content-Language"] == "es"


def test_a_french_agent_gets_the_conversations_contact_details_in_french(agent, handoff):
    client = speaking(agent, "fr")

    page = client.get(f"/handoffs/{handoff.pk}/").content.decode()

    assert 'aria-label="Coordonnées"' in page  # the region "Contact details"
    assert "Ajouter une note" in page and "Pas encore de notes." in page
    assert "Étiquettes" in page


def test_a_refusal_reaches_the_agent_in_their_language(offline_agent, handoff):
    client = speaking(offline_agent, "fr")

    response = client.post(f"/handoffs/{handoff.pk}/assign/", **HTMX)

    assert response.status_code == 403
    assert "Passez en ligne pour faire cela." in response.content.decode()
    assert Handoff.objects.get(pk=handoff.pk).status == Handoff.Status.PENDING


def test_a_state_refusal_names_the_status_in_the_agents_language(agent, handoff):
    Handoff.objects.filter(pk=handoff.pk).update(status=Handoff.Status.RESOLVED)

    response = speaking(agent, "es").post(f"/handoffs/{handoff.pk}/assign/", **HTMX)

    assert response.status_code == 409
    expected = f"La solicitud n.º {handoff.pk} está resuelta: no se puede asignar."
    assert expected in response.content.decode()


def test_the_scripts_catalog_follows_the_agents_language(agent):
    client = speaking(agent, "fr")

    catalog = client.get("/jsi18n/").content.decode()

    assert "il y a %(count)s min" in catalog
    assert "\\u00e0 l\\u2019instant" in catalog or "à l’instant" in catalog  # "just now"
    assert speaking(agent, "en").get("/jsi18n/").status_code == 200


def test_logged_out_pages_take_the_browsers_language(client):
    assert "Iniciar sesión" in client.get("/login/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    english = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Log in to answer your users." in english
    german = client.get("/login/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Log in to answer your users." in german  # not one of ours: English


def test_the_bot_api_answers_in_english_whatever_the_client_asks(client, bot, handoff):
    Handoff.objects.filter(pk=handoff.pk).update(status=Handoff.Status.RESOLVED)
    api = BotApi(client, bot.api_key)

    response = api.post(f"/handoffs/{handoff.pk}/reject", headers={"Accept-Language": "fr"})

    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"Handoff #{handoff.pk} is resolved: it cannot be rejected."
    )


def test_a_throttled_login_is_explained_in_the_browsers_language():
    from agents.throttle import blocked_message

    with translation.override("fr"):
        assert blocked_message(120) == "Trop de tentatives échouées. Réessayez dans 2 minutes."
    with translation.override("es"):
        assert (
            blocked_message(60) == "Demasiados intentos fallidos. Inténtelo de nuevo en 1 minuto."
        )
    assert blocked_message(60) == "Too many failed attempts. Try again in 1 minute."


def test_a_spanish_supervisor_gets_the_reports_in_spanish(agent, handoff):
    from django.contrib.auth.models import Group

    from agents.roles import SUPERVISORS

    agent.groups.add(Group.objects.get(name=SUPERVISORS))
    client = speaking(agent, "es")

    page = client.get("/reports/").content.decode()

    assert 'aria-label="Informes"' in page and "Resultados por día" in page
    assert "Lunes" in page or "lunes" in page  # Django's own weekday names
    live = client.get("/reports/live/").content.decode()
    assert "Longitud de la cola" in live and "Agentes en línea" in live


def test_csv_exports_stay_english_for_a_french_supervisor(agent, handoff):
    """A data file: scripts reading it must not break when a supervisor switches language."""
    from django.contrib.auth.models import Group

    from agents.roles import SUPERVISORS

    agent.groups.add(Group.objects.get(name=SUPERVISORS))
    client = speaking(agent, "fr")
    assert "Issues par jour" in client.get("/reports/").content.decode()

    def table(name: str) -> str:
        return client.get("/reports/", {"format": "csv", "table": name}).content.decode()

    assert table("times").splitlines()[1].startswith("Wait time,")
    assert "Expiry rate" in table("rates")
    assert "No label" in table("labels")
    assert "\nMonday," in table("heatmap")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_spanish_visitors_socket_answers_in_spanish():
    from django.core.cache import cache

    from tests.test_webchat import connected_visitor, receive_until, send

    cache.clear()  # the web chat's budgets
    visitor = await connected_visitor(language=b"es-ES,es;q=0.9,en;q=0.5")

    await send(visitor, text="   ")
    assert "Escriba un mensaje." in await visitor.receive_from()
    await send(visitor, text="Hola")
    await receive_until(visitor, "Soy el bot de demostración de hitlnext.")
    await visitor.disconnect()


def test_the_profile_saves_the_language_and_every_page_then_uses_it(agent):
    client = speaking(agent, "")
    form = {"first_name": "Alice", "last_name": "Martin", "play_sound": "on", "language": "fr"}

    response = client.post("/profile/", form, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 302
    assert AgentProfile.objects.get(user=agent).interface_language == "fr"
    page = client.get("/profile/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="fr">' in page
    assert "Votre profil" in page and "Langue" in page and "Enregistrer" in page
    assert '<option value="fr" selected>Français</option>' in page


def test_changing_the_language_reloads_the_whole_page(agent):
    client = speaking(agent, "en")
    form = {"first_name": "Alice", "last_name": "Martin", "language": "es"}

    response = client.post("/profile/", form, **HTMX)

    assert response["HX-Refresh"] == "true"
    same = client.post("/profile/", form, **HTMX)
    assert "HX-Refresh" not in same and "Perfil guardado." in same.content.decode()


def test_a_form_without_the_language_keeps_the_chosen_one(agent):
    client = speaking(agent, "es")

    client.post("/profile/", {"first_name": "Alice", "last_name": "Martin"}, **HTMX)

    assert AgentProfile.objects.get(user=agent).interface_language == "es"


def test_until_the_agent_chooses_the_select_shows_the_browsers_language(agent):
    page = speaking(agent, "").get("/profile/", HTTP_ACCEPT_LANGUAGE="es-AR,es;q=0.9")

    assert '<option value="es" selected>Español</option>' in page.content.decode()


def test_an_unknown_language_is_refused(agent):
    client = speaking(agent, "en")

    response = client.post("/profile/", {"first_name": "A", "language": "de"}, **HTMX)

    assert response.status_code == 422
    assert AgentProfile.objects.get(user=agent).interface_language == "en"


def test_a_french_agent_gets_the_conversation_in_french(agent, handoff):
    page = speaking(agent, "fr").get(f"/handoffs/{handoff.pk}/").content.decode()

    assert '<html lang="fr">' in page
    assert 'aria-label="Messages"' in page  # "Messages" is French too
    assert "M’attribuer" in page and "Transférer" in page and "Résoudre" in page
    assert 'data-msgid="Pending">En attente</span>' in page  # the status badge
    assert "/jsi18n/" in page  # the scripts' catalog, before the modules


def test_the_web_chat_page_follows_the_browser(client):
    page = client.get("/chat/", HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9").content.decode()

    assert '<html lang="es">' in page
    assert "Chatea con nosotros" in page and "Hablar con una persona" in page
    assert 'placeholder="Escriba un mensaje…"' in page and ">Enviar</button>" in page
    english = client.get("/chat/", HTTP_ACCEPT_LANGUAGE="en-GB").content.decode()
    assert '<html lang="en">' in english and "Chat with us" in english


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_french_agents_answer_reaches_a_spanish_visitor_in_spanish():
    from channels.db import database_sync_to_async
    from django.core.cache import cache

    from tests.factories import UserFactory
    from tests.test_webchat import connected_visitor, receive_until, send

    cache.clear()
    visitor = await connected_visitor(language=b"es-ES,es;q=0.9")
    await send(visitor, text="Hola")
    await receive_until(visitor, "Soy el bot")
    await send(visitor, action="handoff")
    await receive_until(visitor, "Esperando a que se una una persona")

    def french_agent_assigns() -> int:
        agent = UserFactory(username="amelie", first_name="Amélie", online=True)
        handoff = Handoff.objects.get(status=Handoff.Status.PENDING)
        client = speaking(agent, "fr")
        return client.post(f"/handoffs/{handoff.pk}/assign/", **HTMX).status_code

    assert await database_sync_to_async(french_agent_assigns)() == 200
    status = await receive_until(visitor, "wc-agent-name")
    assert "Está hablando con" in status
    await visitor.disconnect()
