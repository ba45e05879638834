"""Expired sessions, deleted hourly by the worker (registered in webchat/apps.py).

Django leaves this to its `clearsessions` command run from cron, which nothing here schedules,
so expired rows stayed forever; until the visitor id moved to its own cookie, every cookieless
view of the web chat page wrote one.
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings


def clear_expired_sessions() -> None:
    # Whatever SESSION_ENGINE says; the cookie and cache engines have nothing to clear.
    engine = import_module(settings.SESSION_ENGINE)
    engine.SessionStore.clear_expired()
