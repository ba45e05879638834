"""Ending an agent's open sockets when their access ends.

HTTP checks the session on every request (django.contrib.auth.get_user); a socket is
authenticated once, at its handshake. So when an agent is deactivated or deleted, or their
password changes, `user_changed` / `user_deleted` announce it after commit
(live.access_revoked), and each of their sockets re-checks its own session with
`signed_in_user`. The agent pages' socket also re-checks on every action it receives and, as a
channel layer may drop that announcement, on a push at most once a minute.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.contrib.auth.models import User
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.crypto import constant_time_compare

from agents import live


def _session(session_key: str) -> SessionBase:
    store: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return store


def signed_in_user(session_key: str) -> User | None:
    """The active user this session signs in now, reloaded; None if it signs in nobody.

    The same decision as django.contrib.auth.get_user() for a request, read afresh from the
    session store (the socket's copy dates from its handshake), but only looking: get_user()
    flushes a failing session or re-keys one signed with an old SECRET_KEY, which from a
    socket would change what the browser's cookie points to.
    """
    session = _session(session_key)
    try:
        user_id = User._meta.pk.to_python(session[SESSION_KEY])
        backend_path = session[BACKEND_SESSION_KEY]
    except (KeyError, ValidationError):
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(user_id)
    if not (isinstance(user, User) and user.is_active):
        return None
    session_hash = session.get(HASH_SESSION_KEY)
    if not session_hash:
        return None
    # The hash derives from the password: a changed password leaves every older session
    # behind, except the one update_session_auth_hash() re-keyed in the changing request.
    current = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if not any(constant_time_compare(session_hash, value) for value in current):
        return None
    return user


def session_exists(session_key: str) -> bool:
    """False once the session is gone: logged out, or re-keyed by login() or
    update_session_auth_hash(), in which case the browser may hold its successor."""
    return _session(session_key).exists(session_key)


def user_changed(sender: type[User], instance: User, created: bool, **_: Any) -> None:
    # set_password() keeps the new password in `_password` until save() returns, so post_save
    # still sees it; an unusable password (the admin's "disable password-based authentication")
    # changes the session hash as well. Announcing on every save of an inactive user or of one
    # without a password is harmless: their sockets only re-check.
    if created:
        return
    if (
        instance._password is not None  # type: ignore[attr-defined]
        or not instance.is_active
        or not instance.has_usable_password()
    ):
        user_id = instance.pk
        transaction.on_commit(lambda: live.access_revoked(user_id))


def user_deleted(sender: type[User], instance: User, **_: Any) -> None:
    user_id = instance.pk
    transaction.on_commit(lambda: live.access_revoked(user_id))
