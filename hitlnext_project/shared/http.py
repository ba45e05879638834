"""Typed requests for views (as healthchecks does): what the middleware and decorators put
on a request, told to the type checker; and reading a header from an ASGI scope, which is
all a websocket has of a request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import get_supported_language_variant
from django.utils.translation.trans_real import parse_accept_lang_header

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """Any request: django_htmx's middleware (settings.MIDDLEWARE) sets `htmx` on each."""

    htmx: HtmxDetails


class AuthenticatedHttpRequest(HtmxHttpRequest):
    """A request to a @login_required view: its user is a signed-in agent."""

    user: User


def scope_header(scope: Mapping[str, Any], name: bytes) -> str:
    """The first value of header `name` (lower-case bytes) in an ASGI scope, else ""."""
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


def scope_language(scope: Mapping[str, Any]) -> str:
    """The page language a socket's browser asked for (its Accept-Language), chosen as Django's
    LocaleMiddleware chooses for a page: the first of settings.LANGUAGES it accepts, else
    LANGUAGE_CODE."""
    for code, _quality in parse_accept_lang_header(scope_header(scope, b"accept-language")):
        if code == "*":
            break
        try:
            return get_supported_language_variant(code)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE
