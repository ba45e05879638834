"""The bot API's typed request (as hitlnext_project/shared/http.py types the agent pages')."""

from __future__ import annotations

from django.http import HttpRequest

from conversations.models import Bot


class BotRequest(HttpRequest):
    """A request past the API's BotKey auth: ninja puts the authenticated bot in `auth`."""

    auth: Bot
