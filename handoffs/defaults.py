"""The Botpress HITL-next default system messages (its config.ts defaults, word for word: teams
migrating compare them), shipped as data admins can edit."""

from __future__ import annotations

DEFAULT_SYSTEM_MESSAGES = {
    ("transfer", "en"): "You are being transferred to an agent.",
    ("transfer", "fr"): "Vous êtes transféré à un agent.",
    ("transfer", "es"): "Se le está transfiriendo a un agente.",
    ("assign", "en"): "You have been assigned to our agent {{agentName}}.",
    ("assign", "fr"): "Vous avez été assigné à notre agent(e) {{agentName}}.",
    ("assign", "es"): "Ha sido asignado al agente {{agentName}}.",
}

# What earlier versions shipped where they differed from Botpress's own words.
FORMER_DEFAULTS = {
    ("transfer", "fr"): "Vous êtes transféré(e) à un agent.",
    ("assign", "fr"): "Vous avez été assigné(e) à notre agent(e) {{agentName}}.",
    ("assign", "es"): "Ha sido asignado a nuestro agente {{agentName}}.",
}


def ensure_default_system_messages(system_message_model) -> int:
    """Create the defaults that are missing; returns how many were created."""
    created = 0
    for (kind, language), text in DEFAULT_SYSTEM_MESSAGES.items():
        _, was_created = system_message_model.objects.get_or_create(
            kind=kind, language=language, defaults={"text": text}
        )
        created += was_created
    return created


def restore_botpress_wording(system_message_model) -> int:
    """Replace the texts earlier versions shipped by Botpress's, where no admin edited them;
    returns how many changed."""
    changed = 0
    for (kind, language), old in FORMER_DEFAULTS.items():
        changed += system_message_model.objects.filter(
            kind=kind, language=language, text=old
        ).update(text=DEFAULT_SYSTEM_MESSAGES[kind, language])
    return changed
