"""The shipped system messages are Botpress HITL-next's defaults word for word (teams migrating
compare them), and an upgrade replaces the wording earlier versions shipped unless an admin
edited it."""

from __future__ import annotations

import pytest

from handoffs.defaults import FORMER_DEFAULTS, restore_botpress_wording
from handoffs.models import SystemMessage

pytestmark = pytest.mark.django_db


def text(kind: str, language: str) -> str:
    return SystemMessage.objects.get(kind=kind, language=language).text


def test_the_french_defaults_are_botpress_own_words():
    assert text("transfer", "fr") == "Vous êtes transféré à un agent."
    assert text("assign", "fr") == "Vous avez été assigné à notre agent(e) {{agentName}}."
    assert text("transfer", "en") == "You are being transferred to an agent."
    assert text("assign", "en") == "You have been assigned to our agent {{agentName}}."
    assert text("assign", "es") == "Ha sido asignado al agente {{agentName}}."


def test_an_upgrade_replaces_the_former_wording_but_keeps_an_admins_edit():
    for (kind, language), old in FORMER_DEFAULTS.items():
        SystemMessage.objects.filter(kind=kind, language=language).update(text=old)
    SystemMessage.objects.filter(kind="assign", language="es").update(text="¡Hola! {{agentName}}")

    changed = restore_botpress_wording(SystemMessage)

    assert changed == 2
    assert text("transfer", "fr") == "Vous êtes transféré à un agent."
    assert text("assign", "fr") == "Vous avez été assigné à notre agent(e) {{agentName}}."
    assert text("assign", "es") == "¡Hola! {{agentName}}"
