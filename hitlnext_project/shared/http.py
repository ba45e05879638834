"""Typed requests for views (as healthchecks does): what the middleware and decorators put
on a request, told to the type checker; and reading a header from an ASGI scope, which is
all a websocket has of a request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest

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
