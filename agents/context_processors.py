from __future__ import annotations

from django.conf import settings
from django.utils.functional import SimpleLazyObject

from agents.models import AgentProfile
from agents.services import profile_for


def agent(request) -> dict:
    """Settings and header data the agent pages need on every page.

    The header's data is lazy: an htmx fragment that does not show the header costs no query.
    """
    user = getattr(request, "user", None)
    context = {
        "hitlnext_autocomplete_trigger": settings.HITLNEXT_AUTOCOMPLETE_TRIGGER,
        "hitlnext_session_timeout_seconds": int(
            settings.HITLNEXT_AGENT_SESSION_TIMEOUT.total_seconds()
        ),
        "hitlnext_alert_seconds": int(settings.HITLNEXT_HANDOFF_ALERT.total_seconds()),
    }
    if user is not None and user.is_authenticated:
        context["my_profile"] = SimpleLazyObject(lambda: profile_for(user))
        context["online_agents"] = SimpleLazyObject(lambda: list(AgentProfile.objects.online()))
    return context
