"""A signed-in agent's pages in the language chosen on their profile (README "Languages").

After AuthenticationMiddleware and Django's LocaleMiddleware: the latter picks the browser's
language (Accept-Language) for everyone, which stays for logged-out pages, the web chat and an
agent who never chose one; this one overrides it with the profile's choice. The bot API
(/api/) always answers in English, whatever a client's Accept-Language: its texts are part of
its contract (DESIGN.md "Bot API").
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse
from django.utils import translation

API_PREFIX = "/api/"


def profile_language(user) -> str:
    """The agent's chosen page language, or "" (none chosen, or not one of LANGUAGES)."""
    try:
        language = user.agent_profile.interface_language
    except ObjectDoesNotExist:
        return ""
    return language if language in dict(settings.LANGUAGES) else ""


class AgentLanguageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(API_PREFIX):
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = settings.LANGUAGE_CODE
            return self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            language = profile_language(user)
            if language:
                translation.activate(language)
                request.LANGUAGE_CODE = language
        return self.get_response(request)
