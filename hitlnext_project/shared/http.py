"""Typed requests for views (as healthchecks does): what the middleware and decorators put
on a request, told to the type checker. Nothing here exists at run time beyond the classes."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
