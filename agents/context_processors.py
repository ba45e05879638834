from __future__ import annotations

from django.conf import settings


def agent(request) -> dict:
    """Settings the agent pages' scripts and templates need on every page."""
    return {
        "hitlnext_autocomplete_trigger": settings.HITLNEXT_AUTOCOMPLETE_TRIGGER,
        "hitlnext_session_timeout_seconds": int(
            settings.HITLNEXT_AGENT_SESSION_TIMEOUT.total_seconds()
        ),
    }
