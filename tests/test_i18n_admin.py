"""The admin's own texts (actions, columns, messages) in the language of the agent's profile."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from agents.models import AgentProfile
from tests.factories import BotFactory, HandoffFactory, LabelFactory, UserFactory

pytestmark = pytest.mark.django_db
NBSP = "\u00a0"  # French puts a no-break space before ":" and inside « »


@pytest.fixture(autouse=True)
def _back_to_english():
    yield
    translation.activate("en")


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def speaking(user, language: str) -> Client:
    AgentProfile.objects.filter(user=user).update(interface_language=language)
    client = Client()
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_handoff_changelist_speaks_french(superuser, bot):
    handoff = HandoffFactory(conversation__bot=bot)  # the actions show above rows only
    handoff.labels.add(LabelFactory(name="billing"))

    response = speaking(superuser, "fr").get(reverse("admin:handoffs_handoff_changelist"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Rejeter les demandes sélectionnées (le bot reprend la conversation)" in page
    assert f"#id pour une seule demande{NBSP}; sinon l’id de la conversation" in page
    assert "Étiquettes" in page  # the labels column
    assert "Reject selected handoffs" not in page


def test_setting_agents_offline_says_so_in_french_with_the_right_plural(superuser, agent):
    client = speaking(superuser, "fr")
    url = reverse("admin:auth_user_changelist")
    other = UserFactory(online=True)

    one = client.post(url, {"action": "set_offline", "_selected_action": [agent.pk]}, follow=True)
    two = client.post(
        url, {"action": "set_offline", "_selected_action": [agent.pk, other.pk]}, follow=True
    )

    assert "1 agent mis hors ligne." in messages_of(one)
    assert "2 agents mis hors ligne." in messages_of(two)
    assert not AgentProfile.objects.filter(user__in=[agent, other], online=True).exists()
    assert "Mettre hors ligne les agents sélectionnés" in two.content.decode()


def test_a_rotated_key_is_shown_once_in_spanish_with_the_bot_name_escaped(superuser):
    bot = BotFactory(name="<b>Acme</b>")
    old_hint = bot.api_key_hint

    response = speaking(superuser, "es").post(
        reverse("admin:conversations_bot_changelist"),
        {"action": "rotate_api_key", "_selected_action": [bot.pk]},
        follow=True,
    )

    bot.refresh_from_db()
    assert bot.api_key_hint != old_hint
    [shown] = messages_of(response)
    assert shown.startswith("Nueva clave de API de «&lt;b&gt;Acme&lt;/b&gt;»: <code>")
    assert shown.endswith("</code> — copie este valor ahora, no se volverá a mostrar.")
    assert "<b>Acme</b>" not in response.content.decode()
